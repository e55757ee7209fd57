package dev.arbor.imagegen;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.tokenizer.Tokenizer;
import java.util.Arrays;

/**
 * One class-conditional image request, checked before any forward: the pipeline's tokenizer is an
 * {@link ImageTokenizer}, the prior's vocabulary covers the tokenizer's {@link ImageLayout}, the prompt is exactly
 * one class token, and the request may generate a whole image. Every refusal names the generator, the cause and
 * what would be accepted.
 *
 * @param tokenizer  the pipeline's image tokenizer
 * @param layout     its layout
 * @param classIndex the prompt's class
 */
public record ImageRequest(ImageTokenizer tokenizer, ImageLayout layout, int classIndex) {

    /** The conditional row's token: the class token. */
    public int classToken() {
        return layout.classToken(classIndex);
    }

    /** The unconditional row's token: the null class (classifier-free guidance's dropped condition). */
    public int nullClassToken() {
        return layout.nullClassToken();
    }

    /** Tokens of one image, all of which the generator emits. */
    public int tokens() {
        return layout.tokensPerImage();
    }

    /**
     * Checks {@code context} for {@code generator} (its name in messages): tokenizer, vocabulary, prompt and the
     * request's token limit ({@code max_tokens} must allow a whole image: an image is never cut short).
     */
    public static ImageRequest open(GenerationContext context, String generator) {
        Tokenizer tokenizer = context.tokenizer();
        ModelCard card = context.model().card();
        if (!(tokenizer instanceof ImageTokenizer images)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, generator + " decodes images and needs the "
                    + "pipeline's tokenizer to be an image tokenizer (dev.arbor.api.image.ImageTokenizer, e.g. format "
                    + "image-vq), but it is " + (tokenizer == null ? "missing" : tokenizer.getClass().getName())
                    + "; configure the pipeline with the image tokenizer its prior was trained with");
        }
        ImageLayout layout = images.layout();
        if (card.vocabSize() < layout.vocabSize()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " has " + card.vocabSize()
                    + " logits per row but the image tokenizer's layout " + layout + " needs " + layout.vocabSize()
                    + " ids; the prior and the tokenizer do not belong together");
        }
        int[] prompt = context.prompt();
        if (prompt.length != 1 || layout.classOf(prompt[0]) < 0) {
            throw ArborException.invalid(generator + " needs a prompt of exactly one class token, got "
                    + (prompt.length == 0 ? "an empty prompt" : prompt.length + " token(s) " + Arrays.toString(prompt))
                    + "; name the class by its index 0-" + (layout.classCount() - 1) + " or one of "
                    + String.join(", ", layout.classNames()) + " (class tokens are ids " + layout.classToken(0) + "-"
                    + layout.classToken(layout.classCount() - 1) + ")");
        }
        if (context.maxNewTokens() < layout.tokensPerImage()) {
            throw ArborException.invalid(generator + " generates whole images of " + layout.tokensPerImage()
                    + " tokens, but the request allows " + context.maxNewTokens() + "; raise max_tokens to at least "
                    + layout.tokensPerImage());
        }
        return new ImageRequest(images, layout, layout.classOf(prompt[0]));
    }
}
