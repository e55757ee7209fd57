package dev.arbor.generation.nextx;

import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.LatentImageCodec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import dev.arbor.imagegen.ImageRequest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.random.RandomGenerator;
import org.osgi.service.component.annotations.Component;

/**
 * xAR's next-X prediction with X = a cell of the latent grid (Ren et al., "Beyond Next-Token: Next-X Prediction for
 * Autoregressive Visual Generation", 2025; {@code github.com/OliverRensu/xAR @121e9c9 : models/xar.py}
 * {@code sample_tokens} l.453-478, {@code models/sampler.py}; METHODS.md §3.15): a class-conditional image of
 * continuous latents is decoded cell by cell, each cell by integrating a flow-matching velocity field from Gaussian
 * noise, conditioned on the clean cells before it.
 *
 * <p><b>Prior.</b> A continuous-latent prior: alignment SAME (a token's row gives that token's velocity), a
 * {@link ContinuousHead} of kind VELOCITY whose width is the codec's {@code latentDim} and which takes time ids, a
 * backend listing INPUT_EMBEDS, SEGMENT_MASK and EMBEDDING_MATRIX (BATCH for the one-forward guidance pair). The
 * pipeline's tokenizer is a {@link LatentImageCodec} (format {@code image-latent}); the prompt is one class token.
 *
 * <p><b>Loop.</b> The latent grid is cut into {@link Cells} (option {@code cell_side}, default
 * {@value #DEFAULT_CELL_SIDE}: the 7 × 7 grid's quadrants, K = 4, as the shipped prior was trained). The class token
 * is appended to the KV state (with the null class in the unconditional row). For cell k = 0..K−1: Gaussian noise
 * for its tokens from the request's RNG (token by token, value by value); {@code num_steps} steps of
 * {@link FlowSampler} ({@code sampler}: {@code euler} or {@code euler_maruyama}), each velocity evaluation one
 * forward of the cell's noisy tokens on top of the cached clean context ({@link CellRows}: input
 * {@code Σ_j x_j·E[basis j] + E_t}, mask {@link CellSegments}, the state left unchanged), the conditional and
 * null-class velocities combined as {@code v_u + s_k·(v_c − v_u)} with xAR's ramp {@code s_k = 1 + (cfg − 1)·k/(K−1)}
 * ({@link Guidance}, LlamaGen convention, linear ramp over cells; option {@code guidance_scale} = cfg); the cancellation
 * is checked before every forward. The finished cell is appended to the context (clean, t = 1), and a canvas streams
 * the cells so far (the whole image's wire ids, positions not yet decoded holding the null-class id). After the last
 * cell the latents are put back in raster order ({@link Cells#unclusterify}) and emitted as the codec's wire ids
 * ({@link LatentImageCodec#toIds}), so {@code decodeImage} and the {@code image-png} post-processor read them as any
 * image. Continuous tokens carry no probability: each emitted id reports log-probability 0.
 *
 * <p><b>Forwards</b>: {@code 1 + K·num_steps + (K − 1)} in batch mode (class token, the velocity evaluations, the
 * appends of cells 0..K−2); twice as many in two-state mode. xAR recomputes the whole prefix at every evaluation;
 * caching the clean context computes the same thing with fewer positions per forward.
 *
 * <p><b>Result</b>: the image's wire ids; STOP for a whole image or when the sink refused a token, CANCELLED (no
 * tokens) when cancelled. <b>Stats</b>: {@code forwards}, {@code velocity_evaluations}, {@code cells},
 * {@code cell_sizes}, {@code num_steps}, {@code sampler}, {@code cfg.scale}, {@code cfg.mode},
 * {@code cfg.parameters} (s_k per cell), {@code image.class}, {@code wall_nanos}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + NextXGenerator.NAME,
        PartProperties.DESCRIPTION + "=xAR next-X image decoding over continuous latents: cell by cell flow "
                + "integration (num_steps, sampler euler|euler_maruyama), guidance ramped over cells (guidance_scale)"})
public final class NextXGenerator implements Generator {
    /** The generator's name ({@code arbor.part}). */
    public static final String NAME = "next-x";
    /** Default {@code num_steps} per cell. */
    public static final int DEFAULT_STEPS = 20;
    /** Largest {@code num_steps}: beyond it a request only burns forwards. */
    public static final int MAX_STEPS = 500;
    /** Default {@code cell_side}: quadrants of a 7 × 7 grid. */
    public static final int DEFAULT_CELL_SIDE = 4;
    /** Default {@code guidance_scale} (cfg at the last cell): xAR-B's 2.7 (its README's evaluation command). */
    public static final double DEFAULT_GUIDANCE_SCALE = 2.7;

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        long start = System.nanoTime();
        ModelBackend model = context.model();
        ModelCard card = model.card();
        ImageRequest image = ImageRequest.open(context, NAME);
        if (!(image.tokenizer() instanceof LatentImageCodec codec)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " generates continuous latents and "
                    + "needs a latent image codec as the pipeline's tokenizer (dev.arbor.api.image.LatentImageCodec, "
                    + "format image-latent), but it is " + image.tokenizer().getClass().getName()
                    + "; a VQ prior runs with raster-ar or next-scale");
        }
        ContinuousHead head = checkPrior(card, codec);
        EmbeddingAccess embeddings = model.extension(EmbeddingAccess.class).orElseThrow(() -> new ArborException(
                ArborException.Kind.PLUGIN_FAILURE, "the backend running " + card.name() + " lists "
                + "Capability.EMBEDDING_MATRIX but offers no EmbeddingAccess extension"));
        Settings settings = Settings.read(context, codec);
        Guidance guidance = settings.guidance();
        Cells cells = new Cells(codec.gridSide(), settings.cellSide());
        int k0 = cells.count();
        CellRows.Mode mode = guidance.inert() ? CellRows.Mode.NONE
                : card.supports(Capability.BATCH) ? CellRows.Mode.BATCH : CellRows.Mode.TWO_STATES;
        int n = image.tokens();
        int dim = codec.latentDim();
        TokenOutput output = new TokenOutput(context, sink, new int[] {image.classToken()}, n);
        RandomGenerator random = output.random();
        int mask = image.nullClassToken();
        int[] canvas = new int[n];
        Arrays.fill(canvas, mask);
        float[][] clustered = new float[cells.tokens()][];
        List<Double> parameters = new ArrayList<>();
        int[] evaluations = {0};
        boolean cancelled = false;
        CellRows rows = new CellRows(model, cells, head, head.embedder(embeddings), mode, image.classToken(),
                image.nullClassToken());
        try {
            rows.open();
            for (int k = 0; k < k0; k++) {
                int size = cells.size(k);
                float[][] noise = new float[size][dim];
                for (float[] v : noise) {
                    for (int j = 0; j < dim; j++) {
                        v[j] = (float) random.nextGaussian();
                    }
                }
                int cell = k;
                double parameter = mode == CellRows.Mode.NONE ? guidance.convention().inert()
                        : guidance.parameterAt(k, k0);
                parameters.add(parameter);
                float[][] x = settings.sampler().integrate(noise, settings.steps(), (xt, t) -> {
                    evaluations[0]++;
                    float[][][] v = rows.velocity(cell, xt, t);
                    if (v[1] == null) {
                        return v[0];
                    }
                    float[][] guided = new float[xt.length][];
                    for (int i = 0; i < xt.length; i++) {
                        guided[i] = guidance.combine(v[0][i], v[1][i], cell, k0, card.name());
                    }
                    return guided;
                }, random, output::cancelled);
                if (x == null) {
                    cancelled = true;
                    break;
                }
                if (k < k0 - 1) {
                    if (output.cancelled()) {
                        cancelled = true;
                        break;
                    }
                    rows.commit(k, x);
                }
                for (int i = 0; i < size; i++) {
                    clustered[cells.start(k) + i] = x[i];
                    int raster = cells.rasterIndex(cells.start(k) + i);
                    System.arraycopy(codec.toIds(new float[][] {x[i]}), 0, canvas, raster * dim, dim);
                }
                sink.canvas(0, canvas.clone(), mask, k + 1);
            }
        } finally {
            rows.close();
        }
        if (!cancelled) {
            int[] ids = codec.toIds(cells.unclusterify(clustered));
            for (int id : ids) {
                if (!output.emit(id, new Selection(id, null, 0.0, 1.0))) {
                    break;
                }
            }
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("forwards", rows.forwards());
        stats.put("velocity_evaluations", evaluations[0]);
        stats.put("cells", k0);
        int[] sizes = new int[k0];
        for (int k = 0; k < k0; k++) {
            sizes[k] = cells.size(k);
        }
        stats.put("cell_sizes", Arrays.stream(sizes).boxed().toList());
        stats.put("num_steps", settings.steps());
        stats.put("sampler", settings.sampler().wireName());
        stats.put("cfg.scale", guidance.scale());
        stats.put("cfg.mode", mode.wireName());
        stats.put("cfg.parameters", List.copyOf(parameters));
        stats.put("image.class", image.classIndex());
        stats.put("wall_nanos", System.nanoTime() - start);
        GenerationResult result = output.result(rows.forwards(), stats);
        if (result.finishReason() == FinishReason.LENGTH && result.tokens().length == n) {
            // a whole image is the natural end of the sequence, not a cut-off
            result = new GenerationResult(result.tokens(), result.logProbs(), FinishReason.STOP,
                    result.forwardPasses(), result.stats());
        }
        return result;
    }

    /** The request's options, checked. */
    record Settings(int steps, FlowSampler sampler, int cellSide, Guidance guidance) {

        static Settings read(GenerationContext context, LatentImageCodec codec) {
            var o = context.options();
            int steps = o.integer("num_steps", DEFAULT_STEPS, 1, MAX_STEPS);
            String name = o.string("sampler", FlowSampler.EULER.wireName());
            FlowSampler sampler = FlowSampler.parse(name);
            if (sampler == null) {
                throw ArborException.invalid("option 'sampler' must be euler (the flow ODE) or euler_maruyama (the "
                        + "SDE), got '" + name + "'");
            }
            int cellSide = o.integer("cell_side", Math.min(DEFAULT_CELL_SIDE, codec.gridSide()), 1,
                    codec.gridSide());
            String convention = o.string("cfg_convention", null);
            if (convention != null && CfgConvention.parse(convention) != CfgConvention.LLAMAGEN) {
                throw ArborException.invalid(NAME + " guides velocities as xAR does, v_u + s·(v_c − v_u) with s ramped "
                        + "over cells (cfg_convention llamagen); got cfg_convention '" + convention + "'");
            }
            Guidance guidance = Guidance.read(o, CfgConvention.LLAMAGEN, DEFAULT_GUIDANCE_SCALE, CfgRamp.LINEAR);
            return new Settings(steps, sampler, cellSide, guidance);
        }
    }

    /**
     * A continuous-latent velocity prior for {@code codec}: alignment SAME, a VELOCITY head of the codec's width with
     * time ids, the capabilities the loop uses, and a context for the whole image. Returns the head.
     */
    static ContinuousHead checkPrior(ModelCard card, LatentImageCodec codec) {
        ContinuousHead head = card.continuousHead();
        if (head == null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " needs a prior with a continuous "
                    + "velocity head (card key continuous_head, e.g. VELOCITY:" + codec.latentDim() + ":0:"
                    + codec.layout().featureBasisToken(0) + ":" + codec.layout().vocabSize() + ":33), but "
                    + card.name() + " emits token logits only; train one with the forge objective latent-flow-cells");
        }
        if (head.kind() != ContinuousHead.Kind.VELOCITY || head.timeOffset() < 0) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " integrates a flow and needs a "
                    + "VELOCITY head with time ids, but " + card.name() + "'s head is " + head.spec()
                    + (head.kind() == ContinuousHead.Kind.GAUSSIAN ? "; a Gaussian head runs with "
                    + "continuous-speculative" : ""));
        }
        if (head.dim() != codec.latentDim()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + "'s velocity head has "
                    + head.dim() + " values per token but the pipeline's codec has latentDim " + codec.latentDim()
                    + "; the prior and the codec do not belong together");
        }
        if (card.alignment() != LogitAlignment.SAME) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " reads each token's velocity from "
                    + "its own row (alignment SAME), but " + card.name() + " is " + card.alignment());
        }
        for (Capability needed : new Capability[] {Capability.INPUT_EMBEDS, Capability.SEGMENT_MASK,
                Capability.EMBEDDING_MATRIX}) {
            if (!card.supports(needed)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " needs Capability." + needed
                        + " (" + why(needed) + "), but the backend running " + card.name() + " does not list it; "
                        + "run the prior on a backend that does");
            }
        }
        if (card.maxPositions() < 1 + codec.latentTokens()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + "'s context of "
                    + card.maxPositions() + " positions cannot hold the class token and " + codec.latentTokens()
                    + " latent tokens");
        }
        return head;
    }

    private static String why(Capability c) {
        return switch (c) {
            case INPUT_EMBEDS -> "continuous tokens enter as embeddings";
            case SEGMENT_MASK -> "the block-causal cluster mask";
            default -> "the basis and time rows of the input embeddings";
        };
    }
}
