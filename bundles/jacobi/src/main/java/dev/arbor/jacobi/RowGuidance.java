package dev.arbor.jacobi;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import dev.arbor.imagegen.ImageRequest;
import java.util.OptionalInt;

/**
 * What a Jacobi request guides and generates, read and validated before any forward: the classifier-free guidance
 * of METHODS.md §3.2 ({@link Guidance#read}: {@code guidance_scale}, text default 1 = inert, {@code cfg_convention}
 * default {@code llamagen} as SJD/GSD's Lumina-mGPT, {@code cfg_ramp} default {@code constant}), the unconditional
 * context, and the image request ({@link ImageRequest}: one class token, a prior covering the layout, a limit of a
 * whole image) when the pipeline's tokenizer is an {@link ImageTokenizer}. An image request's default scale is the
 * {@code raster-ar} generator's ({@value #IMAGE_DEFAULT_SCALE}), so SJD, GSD and raster AR sample the same guided
 * target unless a pipeline says otherwise.
 *
 * <p>Unconditional context: an image request's is the null class token ({@link ImageLayout#nullClassToken()},
 * the class dropped in training as LlamaGen does); a text request's is, as for the {@code cfg} generator, option
 * {@code negative_prompt} (text, encoded with special tokens) or {@code negative_prompt_ids} (ids), else the empty
 * prompt as the model sees it ({@code [BOS]}: the card's, else the tokenizer's, else the tokenizer's encoding of
 * {@code ""}). {@code negative_prompt_ids} also overrides the null class of an image request.
 *
 * @param guidance the request's guidance (possibly inert)
 * @param uncond   the unconditional context; null when {@code guided} is false
 * @param source   where {@code uncond} came from ({@code null_class}, {@code bos}, an option name; {@code none})
 * @param layout   the image layout, or null for a text request
 */
record RowGuidance(Guidance guidance, int[] uncond, String source, ImageLayout layout) {
    /** Option: text of the unconditional (negative) context (text requests). */
    static final String NEGATIVE_PROMPT = "negative_prompt";
    /** Option: ids of the unconditional context, used as they are. */
    static final String NEGATIVE_PROMPT_IDS = "negative_prompt_ids";
    /** The default scale of a text request: inert, so text pipelines keep plain SJD unless a scale is asked for. */
    static final double DEFAULT_SCALE = 1.0;
    /** The default scale of an image request: the raster-ar generator's LlamaGen-convention default. */
    static final double IMAGE_DEFAULT_SCALE = 2.0;
    /** The name image-request refusals give the loop. */
    private static final String NAME = "Jacobi decoding (jacobi, grouped-speculative)";

    /** True when some token is guided (a second row is needed). */
    boolean guided() {
        return uncond != null;
    }

    /** True for an image request. */
    boolean image() {
        return layout != null;
    }

    /** Reads the options of {@code context}; refusals name the option or the cause. */
    static RowGuidance read(GenerationContext context) {
        Options options = context.options();
        ModelCard card = context.model().card();
        ImageLayout layout = null;
        if (context.tokenizer() instanceof ImageTokenizer) {
            layout = ImageRequest.open(context, NAME).layout();
        }
        Guidance guidance = Guidance.read(options, CfgConvention.LLAMAGEN, layout != null ? IMAGE_DEFAULT_SCALE
                : DEFAULT_SCALE, CfgRamp.CONSTANT);
        if (guidance.inert()) {
            return new RowGuidance(guidance, null, "none", layout);
        }
        int[] uncond;
        String source;
        if (options.has(NEGATIVE_PROMPT_IDS)) {
            uncond = options.integers(NEGATIVE_PROMPT_IDS);
            source = NEGATIVE_PROMPT_IDS;
        } else if (layout != null) {
            if (options.has(NEGATIVE_PROMPT)) {
                throw ArborException.invalid("option '" + NEGATIVE_PROMPT + "' is text, but this is an image request "
                        + "(its unconditional row is the null class token " + layout.nullClassToken() + "); give '"
                        + NEGATIVE_PROMPT_IDS + "' for another unconditional context");
            }
            uncond = new int[] {layout.nullClassToken()};
            source = "null_class";
        } else if (options.has(NEGATIVE_PROMPT)) {
            Tokenizer tokenizer = context.tokenizer();
            if (tokenizer == null) {
                throw ArborException.invalid("option '" + NEGATIVE_PROMPT + "' is text to encode with the pipeline's "
                        + "tokenizer, and this request has none; give '" + NEGATIVE_PROMPT_IDS + "' instead");
            }
            uncond = tokenizer.encode(options.string(NEGATIVE_PROMPT, ""), true);
            source = NEGATIVE_PROMPT;
        } else {
            uncond = emptyPrompt(card, context.tokenizer());
            source = "bos";
        }
        validateUnconditional(uncond, card, source);
        return new RowGuidance(guidance, uncond, source, layout);
    }

    private static int[] emptyPrompt(ModelCard card, Tokenizer tokenizer) {
        OptionalInt bos = card.bosTokenId().isPresent() ? card.bosTokenId()
                : tokenizer != null ? tokenizer.bosTokenId() : OptionalInt.empty();
        if (bos.isPresent()) {
            return new int[] {bos.getAsInt()};
        }
        int[] empty = tokenizer == null ? new int[0] : tokenizer.encode("", true);
        if (empty.length > 0) {
            return empty;
        }
        throw ArborException.invalid(card.name() + " has no BOS token, so the default unconditional context (the "
                + "empty prompt) has no token to predict from; give option '" + NEGATIVE_PROMPT + "' or '"
                + NEGATIVE_PROMPT_IDS + "' as the unconditional context, or guidance_scale 1 (no guidance)");
    }

    private static void validateUnconditional(int[] uncond, ModelCard card, String source) {
        if (uncond.length == 0) {
            throw ArborException.invalid("the unconditional context from '" + source + "' is empty; a causal model "
                    + "needs at least one token to predict from");
        }
        if (uncond.length >= card.maxPositions()) {
            throw ArborException.invalid("the unconditional context from '" + source + "' has " + uncond.length
                    + " tokens but " + card.name() + "'s context is " + card.maxPositions() + "; shorten it to at most "
                    + (card.maxPositions() - 1) + " tokens");
        }
        for (int i = 0; i < uncond.length; i++) {
            if (uncond[i] < 0 || uncond[i] >= card.vocabSize()) {
                throw ArborException.invalid("token " + i + " of the unconditional context from '" + source
                        + "' has id " + uncond[i] + ", outside " + card.name() + "'s vocabulary [0, "
                        + card.vocabSize() + ")");
            }
        }
    }
}
