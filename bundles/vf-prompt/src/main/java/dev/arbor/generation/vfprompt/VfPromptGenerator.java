package dev.arbor.generation.vfprompt;

import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import dev.arbor.imagegen.CodeMask;
import dev.arbor.imagegen.ImageCanvas;
import dev.arbor.imagegen.GuidedRows;
import dev.arbor.imagegen.ImageRequest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.osgi.service.component.annotations.Component;

/**
 * Raster-order image decoding with a Vision Full-view prompt ("Autoregressive Image Generation with Vision Full-view
 * Prompt", 2025; METHODS.md §3.18; a closely related earlier version is arXiv 2502.16965 v1, "IGTR"): the prior first
 * generates a few full-view tokens that describe the whole image, then the image's codes in raster order conditioned
 * on them, "first perceiving the overall distribution before generating the image", at the cost of a few more
 * inference steps.
 *
 * <p><b>What the VF tokens are.</b> The paper does not publish its prompt content [unverified]; this generator needs
 * only that the prior was trained with {@code vf_tokens} prompt tokens drawn from a reserved id range
 * {@code [vf_offset, vf_offset + vf_codes)} between the class token and the codes. The forge's {@code fashion-vf}
 * prior uses a coarse full view of the same image: the 1x1 and 2x2 scales of the multi-scale residual VQ (5 tokens,
 * VF id = 540 + code), so a sample is coarse whole-image structure first, then local detail
 * ({@code models/trained/fashion-vf/MODEL_CARD.md}).
 *
 * <p><b>Per step</b>, exactly as {@code raster-ar} (LlamaGen) over the longer sequence {@code [class, vf_1 .. vf_V,
 * code_0 .. code_{N-1}]}: cancellation check; the conditional and (guidance on) unconditional rows in one batch-2
 * forward (two single-row states without BATCH), both rows fed the same tokens, so the null-class row sees its own
 * VF prompt (as in training, where a dropped class keeps the VF tokens); the rows combined by {@link Guidance#combine}
 * at step {@code k} of {@code V + N}; then, for the first V steps, every id outside the VF range set to {@code -inf}
 * and the pipeline's sampler chain draws a VF token, which is fed back but never emitted; for the next N steps the
 * ids that are not codes set to {@code -inf} ({@link CodeMask}) and the chain draws a code, emitted through the sink,
 * with a canvas after every image row ({@link ImageCanvas}). The emitted tokens are exactly the N codes, so the
 * standard {@code image-png} post-processor decodes them. Forwards per image: {@code 1 + V + (N − 1)}. With
 * {@code vf_tokens = 0} it is {@code raster-ar}, token for token.
 *
 * <p><b>Options</b>: {@code vf_tokens}, {@code vf_offset}, {@code vf_codes} ({@link VfPrompt}); {@code guidance_scale}
 * (default {@value #DEFAULT_GUIDANCE_SCALE}), {@code cfg_convention}, {@code cfg_ramp} (over all V + N steps).
 *
 * <p><b>Result</b>: the N codes; STOP for a whole image or a sink refusal, CANCELLED when cancelled. <b>Stats</b>:
 * {@code forwards}, {@code cfg.convention}, {@code cfg.scale}, {@code cfg.ramp}, {@code cfg.mode},
 * {@code cfg.guided_steps}, {@code vf.tokens}, {@code vf.offset}, {@code vf.codes}, {@code vf.prompt} (the VF ids
 * drawn), {@code image.class}, {@code image.rows_streamed}, {@code wall_nanos}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + VfPromptGenerator.NAME,
        PartProperties.DESCRIPTION + "=Raster-order image decoding with a Vision Full-view prompt (VF prompt): "
                + "vf_tokens full-view tokens from the VF ids first (vf_offset, vf_codes), stripped before decoding; "
                + "classifier-free guidance (guidance_scale, cfg_convention, cfg_ramp)"})
public final class VfPromptGenerator implements Generator {
    /** The generator's name ({@code arbor.part}). */
    public static final String NAME = "vf-prompt";
    /** Default {@code guidance_scale} in LlamaGen's convention: raster-ar's, so vf_tokens 0 is raster-ar. */
    public static final double DEFAULT_GUIDANCE_SCALE = 2.0;

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        long start = System.nanoTime();
        ModelBackend model = context.model();
        ModelCard card = model.card();
        ImageRequest image = ImageRequest.open(context, NAME);
        ImageLayout layout = image.layout();
        checkPrior(card, layout);
        VfPrompt vf = VfPrompt.read(context.options(), card, layout, NAME);
        Guidance guidance = Guidance.read(context.options(), CfgConvention.LLAMAGEN, DEFAULT_GUIDANCE_SCALE,
                CfgRamp.CONSTANT);
        GuidedRows.Mode mode = guidance.inert() ? GuidedRows.Mode.NONE
                : card.supports(Capability.BATCH) ? GuidedRows.Mode.BATCH : GuidedRows.Mode.TWO_STATES;
        int n = image.tokens();
        int steps = vf.tokens() + n;
        int side = layout.side(0);
        Sampler sampler = DecodeChecks.sampler(context);
        TokenOutput output = new TokenOutput(context, sink, new int[] {image.classToken()}, n);
        ImageCanvas canvas = new ImageCanvas(sink, n, image.nullClassToken());
        List<Integer> prompt = new ArrayList<>(vf.tokens());

        int guidedSteps = 0;
        GuidedRows rows = new GuidedRows(model, mode, image.classToken(), image.nullClassToken());
        try {
            int last = -1;
            for (int k = 0; k < steps && !output.cancelled(); k++) {
                float[][] both = rows.next(last);
                float[] logits = both[0];
                if (mode != GuidedRows.Mode.NONE) {
                    logits = guidance.combine(both[0], both[1], k, steps, card.name());
                    guidedSteps += guidance.guides(k, steps) ? 1 : 0;
                }
                if (k < vf.tokens()) {
                    // a VF token: fed to both rows at the next step, never emitted (the decoder sees codes only)
                    Selection selection = sampler.sample(vfMask(logits, vf), output.history());
                    last = checkVf(selection.token(), vf, card);
                    prompt.add(last);
                    continue;
                }
                Selection selection = sampler.sample(CodeMask.apply(logits, layout.codes()), output.history());
                int token = selection.token();
                checkCode(token, layout, card);
                canvas.put(token);
                if (!output.emit(token, selection)) {
                    break;
                }
                if (canvas.decoded() % side == 0) {
                    canvas.stream();
                }
                last = token;
            }
        } finally {
            rows.close();
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("forwards", rows.forwards());
        stats.put("cfg.convention", guidance.convention().name().toLowerCase(Locale.ROOT));
        stats.put("cfg.scale", guidance.scale());
        stats.put("cfg.ramp", guidance.ramp().name().toLowerCase(Locale.ROOT));
        stats.put("cfg.mode", mode.wireName());
        stats.put("cfg.guided_steps", guidedSteps);
        stats.put("vf.tokens", vf.tokens());
        stats.put("vf.offset", vf.offset());
        stats.put("vf.codes", vf.codes());
        stats.put("vf.prompt", List.copyOf(prompt));
        stats.put("image.class", image.classIndex());
        stats.put("image.rows_streamed", canvas.steps());
        stats.put("wall_nanos", System.nanoTime() - start);
        GenerationResult result = output.result(rows.forwards(), stats);
        if (result.finishReason() == FinishReason.LENGTH && result.tokens().length == n) {
            // a whole image is the natural end of the sequence, not a cut-off
            result = new GenerationResult(result.tokens(), result.logProbs(), FinishReason.STOP,
                    result.forwardPasses(), result.stats());
        }
        return result;
    }

    /** Sets every id outside the VF range to {@code -inf}, in place; returns {@code logits}. */
    static float[] vfMask(float[] logits, VfPrompt vf) {
        Arrays.fill(logits, 0, vf.offset(), Float.NEGATIVE_INFINITY);
        Arrays.fill(logits, vf.offset() + vf.codes(), logits.length, Float.NEGATIVE_INFINITY);
        return logits;
    }

    /** A causal next-token prior with one scale (the context is checked with the VF tokens by {@link VfPrompt}). */
    private static void checkPrior(ModelCard card, ImageLayout layout) {
        if (layout.scaleCount() != 1) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " decodes single-scale (raster) "
                    + "token maps after its VF prompt, but the image tokenizer's layout has scales "
                    + Arrays.toString(layout.scales()) + "; configure the raster tokenizer the prior was trained with "
                    + "(fashion-vf: fashion-patch-vq.bin)");
        }
        if (card.alignment() != LogitAlignment.NEXT || card.nativeAttention() != NativeAttention.CAUSAL) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " needs a causal next-token prior "
                    + "(alignment NEXT, attention CAUSAL), but " + card.name() + " is " + card.alignment() + " / "
                    + card.nativeAttention());
        }
    }

    /** The selector must honour the -inf outside the VF ids; anything else is a plugin bug, named as such. */
    private static int checkVf(int token, VfPrompt vf, ModelCard card) {
        DecodeChecks.checkToken(token, card);
        if (!vf.contains(token)) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector chose id " + token
                    + " for a VF token, which is not a VF id (" + vf.offset() + "-" + (vf.offset() + vf.codes() - 1)
                    + ") although its logit was -inf");
        }
        return token;
    }

    /** The selector must honour the -inf of non-codes; anything else is a plugin bug, named as such. */
    private static void checkCode(int token, ImageLayout layout, ModelCard card) {
        DecodeChecks.checkToken(token, card);
        if (!layout.isCode(token)) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector chose id " + token
                    + ", which is not a code (codes are 0-" + (layout.codes() - 1) + ") although its logit was -inf");
        }
    }
}
