package dev.arbor.jacobi;

import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import dev.arbor.guidance.UnconditionalContext;
import dev.arbor.imagegen.ImageRequest;

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
    static final String NEGATIVE_PROMPT = UnconditionalContext.NEGATIVE_PROMPT;
    /** Option: ids of the unconditional context, used as they are. */
    static final String NEGATIVE_PROMPT_IDS = UnconditionalContext.NEGATIVE_PROMPT_IDS;
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
        ImageLayout layout = null;
        if (context.tokenizer() instanceof ImageTokenizer) {
            layout = ImageRequest.open(context, NAME).layout();
        }
        Guidance guidance = Guidance.read(options, CfgConvention.LLAMAGEN, layout != null ? IMAGE_DEFAULT_SCALE
                : DEFAULT_SCALE, CfgRamp.CONSTANT);
        if (guidance.inert()) {
            return new RowGuidance(guidance, null, "none", layout);
        }
        UnconditionalContext unconditional = UnconditionalContext.read(context,
                layout != null ? layout.nullClassToken() : -1);
        return new RowGuidance(guidance, unconditional.ids(), unconditional.source(), layout);
    }
}
