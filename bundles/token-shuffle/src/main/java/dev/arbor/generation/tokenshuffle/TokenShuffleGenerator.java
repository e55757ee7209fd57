package dev.arbor.generation.tokenshuffle;

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
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import dev.arbor.imagegen.CodeMask;
import dev.arbor.imagegen.ImageCanvas;
import dev.arbor.imagegen.ImageRequest;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.osgi.service.component.annotations.Component;

/**
 * Token-Shuffle image decoding (Ma et al., "Token-Shuffle: Towards High-Resolution Image Generation with
 * Autoregressive Models", 2025; METHODS.md §3.13): a class-conditional prior over merged s x s windows of codes
 * emits s² codes per forward, one per output head, so an image of N codes takes about N/s² forwards.
 *
 * <p><b>Grid.</b> The pipeline's tokenizer is a raster {@code ImageTokenizer} (one scale of side n). Its code map is
 * padded to the next multiple of s with the tokenizer's code of a blank (all-black) image patch on the right columns
 * and bottom rows, and regrouped by {@link TokenShuffle} into windows (raster order of windows, codes inside a
 * window in raster order). Padding entries are known: they are fed as the blank code and never sampled nor emitted.
 *
 * <p><b>Prior.</b> Causal, alignment NEXT, {@code outputHeads = s²} ({@link ModelCard#outputHeads()}: a logits row is
 * s² slices of {@code headVocabSize} = the layout's vocabulary, head h predicting the h-th code of the next window),
 * vocabulary {@code s²·V}. Position 0's input is the class token (the null class in the unconditional row); position
 * p >= 1 takes the merged window p-1, {@code Σ_h E[h·V + code_h]} ({@link WindowInputs}: the linear form of the
 * paper's merge), through {@link Capability#INPUT_EMBEDS} and the backend's {@link EmbeddingAccess}. The forge's
 * {@code TokenShuffleObjective} trains such priors ({@code fashion-shuffle}).
 *
 * <p><b>Per window {@code p}</b> (one forward): cancellation check; the conditional and, when guidance is on, the
 * unconditional row (one batch-2 forward when the backend lists BATCH, else two states); for each head h in order,
 * its slice of both rows combined by {@link Guidance#combine} at step p of the image's windows, non-codes set to
 * {@code -inf} ({@link CodeMask}), and the pipeline's sampler chain (temperature, top-k, top-p, selector) drawing the
 * code with the request's RNG. After each row of windows the codes of the raster rows it completes are emitted in
 * raster order (the result is the tokenizer's raster code sequence) and the partial image streamed as a canvas
 * ({@link ImageCanvas}). When guidance is inert no unconditional forward runs.
 *
 * <p><b>Options</b>: {@code window} (the window side s; default and only accepted value: the prior's, √outputHeads),
 * {@code guidance_scale} (default {@value #DEFAULT_GUIDANCE_SCALE}), {@code cfg_convention} ({@code llamagen}
 * default, {@code var}, {@code llada}), {@code cfg_ramp} ({@code constant} default, {@code linear}, {@code cosine};
 * over windows).
 *
 * <p><b>Result</b>: the image's n² codes in raster order; STOP for a whole image or when the sink refused a token,
 * CANCELLED when cancelled. <b>Stats</b>: {@code forwards}, {@code cfg.convention}, {@code cfg.scale},
 * {@code cfg.ramp}, {@code cfg.mode}, {@code cfg.guided_steps}, {@code image.class}, {@code shuffle.window},
 * {@code shuffle.windows}, {@code shuffle.blank_code}, {@code image.rows_streamed}, {@code wall_nanos}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + TokenShuffleGenerator.NAME,
        PartProperties.DESCRIPTION + "=Token-Shuffle image decoding: s x s code windows, s^2 codes per forward from "
                + "s^2 output heads, classifier-free guidance (window, guidance_scale, cfg_convention, cfg_ramp); "
                + "top-k/top-p from the pipeline"})
public final class TokenShuffleGenerator implements Generator {
    /** The generator's name ({@code arbor.part}). */
    public static final String NAME = "token-shuffle";
    /** Default {@code guidance_scale} in LlamaGen's convention, as raster-ar's (the same class-conditional setting). */
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
        int window = window(context, card, layout);
        EmbeddingAccess embeddings = checkPrior(model, layout, window);
        Guidance guidance = Guidance.read(context.options(), CfgConvention.LLAMAGEN, DEFAULT_GUIDANCE_SCALE,
                CfgRamp.CONSTANT);
        WindowRows.Mode mode = guidance.inert() ? WindowRows.Mode.NONE
                : card.supports(Capability.BATCH) ? WindowRows.Mode.BATCH : WindowRows.Mode.TWO_STATES;
        WindowGrid grid = new WindowGrid(layout.side(0), window, blankCode(image, layout));
        WindowInputs inputs = new WindowInputs(embeddings, layout.vocabSize(), card.name());
        int n = image.tokens();
        int v = layout.vocabSize();
        int windows = grid.windows();
        int slots = grid.slots();
        Sampler sampler = DecodeChecks.sampler(context);
        // the history's vocabulary is one head's: every logits row the chain sees is a head's slice
        SamplingContext history = SamplingContext.seeded(new int[] {image.classToken()}, v, context.seed());
        TokenOutput output = new TokenOutput(context, sink, history, n);
        ImageCanvas canvas = new ImageCanvas(sink, n, image.nullClassToken());
        int[] codes = new int[n];
        Selection[] selections = new Selection[n];
        int emitted = 0;
        int guidedSteps = 0;
        int[] previous = null;
        WindowRows rows = new WindowRows(model, mode, image.classToken(), image.nullClassToken());
        try {
            windowLoop:
            for (int p = 0; p < windows && !output.cancelled(); p++) {
                float[][] both = rows.next(previous == null ? null : inputs.merge(previous));
                boolean guided = mode != WindowRows.Mode.NONE && guidance.guides(p, windows);
                guidedSteps += guided ? 1 : 0;
                int[] drawn = new int[slots];
                for (int h = 0; h < slots; h++) {
                    int at = grid.rasterIndex(p, h);
                    if (at < 0) {
                        drawn[h] = grid.blankCode();
                        continue;
                    }
                    float[] logits = Arrays.copyOfRange(both[0], h * v, (h + 1) * v);
                    if (mode != WindowRows.Mode.NONE) {
                        logits = guidance.combine(logits, Arrays.copyOfRange(both[1], h * v, (h + 1) * v), p,
                                windows, card.name());
                    }
                    Selection selection = sampler.sample(CodeMask.apply(logits, layout.codes()), output.history());
                    checkCode(selection.token(), layout, card);
                    drawn[h] = selection.token();
                    codes[at] = drawn[h];
                    selections[at] = selection;
                }
                previous = drawn;
                if ((p + 1) % grid.windowsPerRow() == 0) {
                    // a row of windows completes whole raster rows: emit them in raster order
                    int[] completed = grid.rowsCompletedBy(p / grid.windowsPerRow());
                    for (int at = completed[0] * grid.side(); at < completed[1] * grid.side(); at++) {
                        canvas.put(codes[at]);
                        emitted++;
                        if (!output.emit(codes[at], selections[at])) {
                            break windowLoop;
                        }
                    }
                    canvas.stream();
                }
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
        stats.put("image.class", image.classIndex());
        stats.put("shuffle.window", window);
        stats.put("shuffle.windows", windows);
        stats.put("shuffle.blank_code", grid.blankCode());
        stats.put("image.rows_streamed", canvas.steps());
        stats.put("wall_nanos", System.nanoTime() - start);
        GenerationResult result = output.result(rows.forwards(), stats);
        if (result.finishReason() == FinishReason.LENGTH && emitted == n && result.tokens().length == n) {
            // a whole image is the natural end of the sequence, not a cut-off
            result = new GenerationResult(result.tokens(), result.logProbs(), FinishReason.STOP,
                    result.forwardPasses(), result.stats());
        }
        return result;
    }

    /**
     * The window side: the {@code window} option, which must be the prior's (s with s² = outputHeads); default the
     * prior's.
     */
    static int window(GenerationContext context, ModelCard card, ImageLayout layout) {
        int heads = card.outputHeads();
        int trained = (int) Math.round(Math.sqrt(heads));
        if (heads < 2 || trained * trained != heads) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " needs a prior with s² output heads "
                    + "for s x s windows (s >= 2; card key output_heads), but " + card.name() + " has " + heads
                    + (heads == 1 ? "; a one-head raster prior runs with the raster-ar generator" : ""));
        }
        int side = layout.side(0);
        int asked = context.options().integer("window", trained, 1, side);
        if (asked != trained) {
            throw ArborException.invalid(NAME + ": window " + asked + " does not match " + card.name() + ", which was "
                    + "trained with " + trained + "x" + trained + " windows (" + heads + " output heads); set window "
                    + "to " + trained + " or leave it out");
        }
        return trained;
    }

    /**
     * A Token-Shuffle prior: one scale, causal, next-window aligned, a vocabulary of s² slots of the layout's, the
     * input-embedding capabilities, and a context for the class token and every window but the last.
     */
    static EmbeddingAccess checkPrior(ModelBackend model, ImageLayout layout, int window) {
        ModelCard card = model.card();
        if (layout.scaleCount() != 1) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " regroups a single-scale (raster) "
                    + "token map into windows, but the image tokenizer's layout has scales "
                    + Arrays.toString(layout.scales()) + "; use the next-scale generator for multi-scale tokenizers");
        }
        if (card.alignment() != LogitAlignment.NEXT || card.nativeAttention() != NativeAttention.CAUSAL) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " needs a causal next-window prior "
                    + "(alignment NEXT, attention CAUSAL), but " + card.name() + " is " + card.alignment() + " / "
                    + card.nativeAttention());
        }
        int heads = window * window;
        if (card.vocabSize() != heads * layout.vocabSize() || card.headVocabSize() != layout.vocabSize()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " has " + card.vocabSize()
                    + " logits per row in " + card.outputHeads() + " heads, but Token-Shuffle over the image "
                    + "tokenizer's layout (" + layout.vocabSize() + " ids) with " + window + "x" + window + " windows "
                    + "needs " + heads + " heads of " + layout.vocabSize() + " = " + heads * layout.vocabSize()
                    + "; the prior and the tokenizer do not belong together");
        }
        for (Capability needed : new Capability[] {Capability.INPUT_EMBEDS, Capability.EMBEDDING_MATRIX}) {
            if (!card.supports(needed)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " needs Capability." + needed
                        + " (" + (needed == Capability.INPUT_EMBEDS ? "a merged window is fed as an input embedding"
                        : "the merged embedding sums the prior's embedding rows") + "), but the backend running "
                        + card.name() + " does not list it; on ONNX Runtime open the llama2c checkpoint with model option "
                        + "input_embeds=true (its input-embeddings graph), or run the prior on DJL");
            }
        }
        EmbeddingAccess embeddings = model.extension(EmbeddingAccess.class).orElseThrow(() -> new ArborException(
                ArborException.Kind.PLUGIN_FAILURE, "the backend running " + card.name() + " lists "
                + "Capability.EMBEDDING_MATRIX but offers no EmbeddingAccess extension"));
        int side = layout.side(0);
        int across = (side + window - 1) / window;
        if (card.maxPositions() < across * across) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + "'s context of "
                    + card.maxPositions() + " positions cannot hold the class token and the " + (across * across - 1)
                    + " windows fed before the last (needs " + across * across + ")");
        }
        return embeddings;
    }

    /** The tokenizer's code of a blank patch: the first code of an all-black image. */
    private static int blankCode(ImageRequest image, ImageLayout layout) {
        int[] black = image.tokenizer().encodeImage(new float[layout.height()][layout.width()]);
        if (black == null || black.length != layout.tokensPerImage() || !layout.isCode(black[0])) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the image tokenizer encoded a black image "
                    + "as " + (black == null ? "nothing" : black.length + " ids starting " + (black.length == 0 ? "-"
                    : black[0])) + "; expected " + layout.tokensPerImage() + " codes");
        }
        return black[0];
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
