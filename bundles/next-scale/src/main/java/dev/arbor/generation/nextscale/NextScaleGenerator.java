package dev.arbor.generation.nextscale;

import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.EmbeddingAccess;
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
import dev.arbor.imagegen.ImageRequest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.osgi.service.component.annotations.Component;

/**
 * VAR's next-scale prediction loop (Tian et al., "Visual Autoregressive Modeling: Scalable Image Generation via
 * Next-Scale Prediction", 2024; {@code github.com/FoundationVision/VAR @78b9539 : models/var.py}
 * {@code autoregressive_infer_cfg} l.127-190; METHODS.md §3.14): an image of {@code K} scales is decoded in
 * {@code K} forwards, one per scale, every position of a scale sampled from the same forward.
 *
 * <p><b>Prior.</b> Alignment SAME (the row at position {@code p} predicts image token {@code p}), native attention
 * SCALE_CAUSAL, and a backend listing SEGMENT_MASK, INPUT_EMBEDS and EMBEDDING_MATRIX. The pipeline's tokenizer is
 * an {@code ImageTokenizer}; the prompt is one class token.
 *
 * <p><b>Per scale {@code k}</b>: cancellation check; inputs — scale 0 the class token ({@code [null class]} in the
 * unconditional row), scale {@code k >= 1} the embeddings {@link ScaleInputs} builds from
 * {@code tokenizer.scaleInput(tokens so far, k)}; one forward appending the scale to the KV state with
 * {@link ScaleSegments}' mask (segment = scale; both rows in one batch-2 forward when the backend lists BATCH, else
 * two states); for each of the {@code side(k)²} positions in raster order the rows combined by
 * {@link Guidance#combine} at step {@code k} of {@code K} (VAR: {@code (1+t)·cond − t·uncond}, {@code t = cfg·k/(K−1)}),
 * non-codes set to {@code -inf} ({@link CodeMask}) and the pipeline's sampler chain (top-k/top-p per position, as
 * VAR's {@code sample_with_top_k_top_p_}) drawing with the request's RNG in raster order — every position of the
 * scale sees the history of the earlier scales only (VAR samples a scale's positions independently); then the
 * scale's codes are committed in order through the sink and the partial image streamed as a canvas
 * ({@link ImageCanvas}, step {@code k+1}). When guidance is inert no unconditional forward runs at all.
 *
 * <p><b>Options</b>: {@code guidance_scale} (default {@value #DEFAULT_GUIDANCE_SCALE}, in the convention's
 * parameter), {@code cfg_convention} ({@code var} default, {@code llamagen}, {@code llada}), {@code cfg_ramp}
 * ({@code linear} default, {@code constant}, {@code cosine}; over scales).
 *
 * <p><b>Result</b>: the image's codes; STOP for a whole image or when the sink refused a token, CANCELLED when
 * cancelled. <b>Stats</b>: {@code forwards} (backend calls: the number of scales in batch mode), {@code cfg.convention},
 * {@code cfg.scale}, {@code cfg.ramp}, {@code cfg.mode}, {@code cfg.guided_steps} (scales whose parameter was not
 * inert), {@code cfg.parameters} (the convention's parameter at each scale run), {@code image.class},
 * {@code image.scales}, {@code wall_nanos}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + NextScaleGenerator.NAME,
        PartProperties.DESCRIPTION + "=VAR next-scale image decoding: one forward per scale, classifier-free "
                + "guidance ramp (guidance_scale, cfg_convention, cfg_ramp); top-k/top-p from the pipeline"})
public final class NextScaleGenerator implements Generator {
    /** The generator's name ({@code arbor.part}). */
    public static final String NAME = "next-scale";
    /**
     * Default {@code guidance_scale} in VAR's convention ({@code t} at the last scale): VAR's ImageNet evaluation
     * default (its README). The shipped {@code fashion-var} pipeline sets 3, where the CFG sweep of BENCHMARKS.md
     * measures its lowest Fréchet distance short of the saturation at 5.
     */
    public static final double DEFAULT_GUIDANCE_SCALE = 1.5;

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        long start = System.nanoTime();
        ModelBackend model = context.model();
        ModelCard card = model.card();
        ImageRequest image = ImageRequest.open(context, NAME);
        ImageLayout layout = image.layout();
        EmbeddingAccess embeddings = checkPrior(model, layout);
        Guidance guidance = Guidance.read(context.options(), CfgConvention.VAR, DEFAULT_GUIDANCE_SCALE,
                CfgRamp.LINEAR);
        ScaleRows.Mode mode = guidance.inert() ? ScaleRows.Mode.NONE
                : card.supports(Capability.BATCH) ? ScaleRows.Mode.BATCH : ScaleRows.Mode.TWO_STATES;
        ScaleInputs inputs = new ScaleInputs(embeddings, layout, card.name());
        int n = image.tokens();
        int scales = layout.scaleCount();
        Sampler sampler = DecodeChecks.sampler(context);
        TokenOutput output = new TokenOutput(context, sink, new int[] {image.classToken()}, n);
        ImageCanvas canvas = new ImageCanvas(sink, n, image.nullClassToken());
        int[] tokens = new int[n];
        List<Double> parameters = new ArrayList<>();
        int guidedSteps = 0;
        ScaleRows rows = new ScaleRows(model, layout, mode, image.classToken(), image.nullClassToken());
        try {
            scaleLoop:
            for (int k = 0; k < scales && !output.cancelled(); k++) {
                float[][] x = k == 0 ? null : inputs.forScale(image.tokenizer(), tokens, k);
                float[][][] both = rows.scale(k, x);
                if (mode != ScaleRows.Mode.NONE) {
                    parameters.add(guidance.parameterAt(k, scales));
                    guidedSteps += guidance.guides(k, scales) ? 1 : 0;
                } else {
                    parameters.add(guidance.convention().inert());
                }
                int first = layout.scaleStart(k);
                int cells = both[0].length;
                Selection[] selections = new Selection[cells];
                for (int c = 0; c < cells; c++) {
                    float[] logits = mode == ScaleRows.Mode.NONE ? both[0][c]
                            : guidance.combine(both[0][c], both[1][c], k, scales, card.name());
                    selections[c] = sampler.sample(CodeMask.apply(logits, layout.codes()), output.history());
                    checkCode(selections[c].token(), layout, card);
                }
                for (int c = 0; c < cells; c++) {
                    int token = selections[c].token();
                    tokens[first + c] = token;
                    canvas.put(token);
                    if (!output.emit(token, selections[c])) {
                        break scaleLoop;
                    }
                }
                canvas.stream();
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
        stats.put("cfg.parameters", List.copyOf(parameters));
        stats.put("image.class", image.classIndex());
        stats.put("image.scales", scales);
        stats.put("wall_nanos", System.nanoTime() - start);
        GenerationResult result = output.result(rows.forwards(), stats);
        if (result.finishReason() == FinishReason.LENGTH && result.tokens().length == n) {
            // a whole image is the natural end of the sequence, not a cut-off
            result = new GenerationResult(result.tokens(), result.logProbs(), FinishReason.STOP,
                    result.forwardPasses(), result.stats());
        }
        return result;
    }

    /**
     * A next-scale prior: alignment SAME, attention SCALE_CAUSAL, the capabilities the loop uses, its embedding
     * matrix, and a context for the whole image. Returns the embedding access.
     */
    static EmbeddingAccess checkPrior(ModelBackend model, ImageLayout layout) {
        ModelCard card = model.card();
        if (card.alignment() != LogitAlignment.SAME || card.nativeAttention() != NativeAttention.SCALE_CAUSAL) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " needs a next-scale prior (alignment "
                    + "SAME, attention SCALE_CAUSAL), but " + card.name() + " is " + card.alignment() + " / "
                    + card.nativeAttention() + (card.nativeAttention() == NativeAttention.CAUSAL
                    ? "; a raster prior runs with the raster-ar generator" : ""));
        }
        for (Capability needed : new Capability[] {Capability.SEGMENT_MASK, Capability.INPUT_EMBEDS,
                Capability.EMBEDDING_MATRIX}) {
            if (!card.supports(needed)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " needs Capability." + needed
                        + " (" + why(needed) + "), but the backend running " + card.name() + " does not list it; "
                        + "run the prior on a backend that does");
            }
        }
        EmbeddingAccess embeddings = model.extension(EmbeddingAccess.class).orElseThrow(() -> new ArborException(
                ArborException.Kind.PLUGIN_FAILURE, "the backend running " + card.name() + " lists "
                + "Capability.EMBEDDING_MATRIX but offers no EmbeddingAccess extension"));
        if (card.maxPositions() < layout.tokensPerImage()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + "'s context of "
                    + card.maxPositions() + " positions cannot hold an image of " + layout.tokensPerImage()
                    + " tokens");
        }
        return embeddings;
    }

    private static String why(Capability c) {
        return switch (c) {
            case SEGMENT_MASK -> "the block-causal-by-scale mask";
            case INPUT_EMBEDS -> "scales after the first take feature-map embeddings as input";
            default -> "the level and feature-basis rows of the input embeddings";
        };
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
