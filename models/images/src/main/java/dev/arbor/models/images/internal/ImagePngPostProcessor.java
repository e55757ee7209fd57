package dev.arbor.models.images.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.image.Png;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.tokenizer.Tokenizer;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code image-png}: decodes a finished output's image tokens with the pipeline's {@link ImageTokenizer} and adds
 * the annotation {@value #ANNOTATION} (the 8-bit gray PNG's bytes, {@link Png}); tokens and text pass unchanged. An
 * output shorter than an image (a generation cut off) decodes as the tokenizer shows a prefix, and
 * {@value #COMPLETE} says whether the image was whole. Refuses a pipeline whose tokenizer is not an image tokenizer,
 * and outputs holding ids that are not image codes.
 */
@Component(service = PostProcessor.class, property = {PartProperties.NAME + "=image-png",
        PartProperties.DESCRIPTION + "=Decodes generated image tokens to a PNG (annotation 'image')"})
public final class ImagePngPostProcessor implements PostProcessor {
    /** Annotation holding the PNG bytes. */
    public static final String ANNOTATION = "image";
    /** Annotation: true when the output held a whole image's tokens. */
    public static final String COMPLETE = "image_complete";

    @Override
    public Output process(Output output, Tokenizer tokenizer, Options options) {
        if (!(tokenizer instanceof ImageTokenizer images)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "post-processor 'image-png' decodes image"
                    + " tokens and needs an image tokenizer (format 'image-vq'); this pipeline's tokenizer is "
                    + (tokenizer == null ? "missing" : "a text tokenizer (" + tokenizer.getClass().getSimpleName()
                    + ")"));
        }
        int[] tokens = output.tokens();
        int perImage = images.layout().tokensPerImage();
        if (tokens.length > perImage) {
            throw ArborException.invalid("post-processor 'image-png' got " + tokens.length + " tokens, one image has "
                    + perImage + " (" + images.layout() + "); check the pipeline's max_tokens");
        }
        for (int i = 0; i < tokens.length; i++) {
            if (!images.layout().isCode(tokens[i])) {
                throw ArborException.invalid("post-processor 'image-png': generated token " + i + " is id "
                        + tokens[i] + ", not an image code (0.." + (images.layout().codes() - 1) + "); the"
                        + " generator must emit codes only");
            }
        }
        byte[] png = Png.encode(images.decodeImage(tokens));
        return output.annotate(ANNOTATION, png).annotate(COMPLETE, tokens.length == perImage);
    }
}
