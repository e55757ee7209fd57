package dev.arbor.generation.distilled;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.imagegen.ImageRequest;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.random.RandomGenerator;
import org.osgi.service.component.annotations.Component;

/**
 * Distilled Decoding (Liu et al. 2024, "Distilled Decoding 1: One-step Sampling of Image Auto-regressive Models with
 * Flow Matching"; {@code github.com/microsoft/distilled_decoding : LlamaGen/autoregressive/models/dd.py},
 * {@code sample/eval_fewstep.py}; METHODS.md §3.17): a student distilled from an AR prior with the teacher flow map
 * ({@link FlowMap}, pipeline {@code fashion-ar-flowmap}) maps a class and Gaussian noise to a whole image in
 * {@code len(t_list)} forwards instead of one forward per token.
 *
 * <p><b>Loop</b> (DD's {@code t_list} / {@code perturb_data}): draw the noise {@code ε} [tokens × featureDim] from
 * the request's seeded RNG (token-major, standard Gaussians), so the same seed gives the same noise and the same
 * image. For each {@code t} in {@code t_list} (strictly increasing, starting at 0): one full-attention forward of
 * the {@link StudentInput} (the tokens so far kept before {@code t}, {@code ε} at and after it, the step token when
 * {@code t > 0}); the argmax code of every row at and after {@code t} replaces those tokens. {@code t_list = [0]} is
 * DD's one-step sampling, {@code [0, t]} its two-step sampling with {@code split_t = t}.
 *
 * <p><b>What is DD's and what is not.</b> DD's training code is unreleased; the student here is the forge's
 * ({@code arbor forge distill}, model fashion-dd) in the documented form (its card says so). DD's student also
 * outputs tokens deterministically from the noise; classifier-free guidance is not run by the student (it was
 * distilled from the guided teacher, so a guidance option would have nothing to act on and is refused), and the
 * pipeline's logits processors and selector are not used (the tokens are the argmax of the student's code logits,
 * DD's {@code final_predict}).
 *
 * <p><b>Options</b>: {@code t_list} (default {@code "0"}; a list or a comma-separated string of integers,
 * 0 first, strictly increasing, below the image's token count; at most {@value #MAX_STEPS} entries).
 * <b>Stats</b>: {@code forwards} ({@code = len(t_list)}), {@code dd.t_list}, {@code image.class},
 * {@code image.rows_streamed} (one canvas per step), {@code wall_nanos}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + DistilledDecodingGenerator.NAME,
        PartProperties.DESCRIPTION + "=Distilled Decoding (Liu et al. 2024): a student maps class + Gaussian noise to "
                + "a whole image in len(t_list) forwards (t_list, default \"0\" = one step)"})
public final class DistilledDecodingGenerator implements Generator {
    /** The generator's name ({@code arbor.part}). */
    public static final String NAME = "distilled-decoding";
    /** Option: the steps' splits. */
    public static final String T_LIST = "t_list";
    /** Most steps a request may ask for (DD uses one or two; more is allowed for experiments). */
    public static final int MAX_STEPS = 8;
    /** Guidance options the student cannot honour. */
    private static final List<String> GUIDANCE_OPTIONS = List.of("guidance_scale", "cfg_convention", "cfg_ramp");

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        long start = System.nanoTime();
        ModelBackend model = context.model();
        ModelCard card = model.card();
        ImageRequest image = ImageRequest.open(context, NAME);
        ImageLayout layout = image.layout();
        int n = image.tokens();
        int[] tList = tList(context.options(), n);
        refuseGuidance(context.options());
        EmbeddingAccess embeddings = checkStudent(model, layout);
        TokenOutput output = new TokenOutput(context, sink, new int[] {image.classToken()}, n);
        float[] eps = noise(output.random(), n * layout.featureDim());
        Rows rows = new Rows(embeddings, card);
        int[] tokens = new int[n];
        float[][] chosen = new float[n][];
        int forwards = 0;
        int streamed = 0;
        for (int t : tList) {
            if (output.cancelled()) {
                break;
            }
            StudentInput.Mixture[] input = StudentInput.of(layout, image.classIndex(), tokens, t, eps);
            float[][] logits = forward(model, card, rows.embed(input), n + 1);
            forwards++;
            for (int i = t; i < n; i++) {
                float[] codes = DecodeChecks.checkedCopy(logits[1 + i], card);
                chosen[i] = Arrays.copyOf(codes, layout.codes());
                tokens[i] = argmax(chosen[i]);
            }
            int[] partial = tokens.clone();
            sink.canvas(0, partial, image.nullClassToken(), ++streamed);
        }
        if (forwards == tList.length) {
            for (int i = 0; i < n; i++) {
                if (!output.emit(tokens[i], selection(tokens[i], chosen[i]))) {
                    break;
                }
            }
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("forwards", forwards);
        stats.put("dd.t_list", Arrays.stream(tList).boxed().toList());
        stats.put("image.class", image.classIndex());
        stats.put("image.rows_streamed", streamed);
        stats.put("wall_nanos", System.nanoTime() - start);
        GenerationResult result = output.result(forwards, stats);
        if (result.finishReason() == FinishReason.LENGTH && result.tokens().length == n) {
            // a whole image is the natural end of the sequence, not a cut-off
            result = new GenerationResult(result.tokens(), result.logProbs(), FinishReason.STOP,
                    result.forwardPasses(), result.stats());
        }
        return result;
    }

    /**
     * The request's {@code t_list}: default {@code [0]}; 0 first, strictly increasing, each below {@code tokens},
     * at most {@link #MAX_STEPS} entries; integers only.
     */
    static int[] tList(Options options, int tokens) {
        Object raw = options.raw(T_LIST).orElse(null);
        if (raw == null) {
            return new int[] {0};
        }
        List<?> items;
        if (raw instanceof List<?> list) {
            items = list;
        } else if (raw instanceof int[] arr) {
            items = Arrays.stream(arr).boxed().toList();
        } else if (raw instanceof Number) {
            items = List.of(raw);
        } else {
            String s = raw.toString().trim();
            items = s.isEmpty() ? List.of() : List.of(s.split("\\s*,\\s*", -1));
        }
        String fix = "; give 0 first, then strictly increasing split positions below " + tokens
                + " (e.g. \"0\" for one step or \"0,24\" for two)";
        if (items.isEmpty() || items.size() > MAX_STEPS) {
            throw ArborException.invalid("option '" + T_LIST + "' must list 1 to " + MAX_STEPS + " steps, got "
                    + items.size() + fix);
        }
        int[] t = new int[items.size()];
        for (int i = 0; i < t.length; i++) {
            Object item = items.get(i);
            long v;
            try {
                if (item instanceof Number num) {
                    double d = num.doubleValue();
                    if (d != Math.rint(d) || Double.isInfinite(d)) {
                        throw new NumberFormatException();
                    }
                    v = (long) d;
                } else {
                    v = Long.parseLong(String.valueOf(item).trim());
                }
            } catch (NumberFormatException e) {
                throw ArborException.invalid("option '" + T_LIST + "' must hold integers, got '" + item + "' in "
                        + raw + fix);
            }
            if (v < 0 || v >= tokens) {
                throw ArborException.invalid("option '" + T_LIST + "' entry " + v + " is outside [0, " + tokens
                        + ")" + fix);
            }
            t[i] = (int) v;
            if (i == 0 && t[i] != 0) {
                throw ArborException.invalid("option '" + T_LIST + "' must start at 0 (the first step sees only "
                        + "noise), got " + t[i] + fix);
            }
            if (i > 0 && t[i] <= t[i - 1]) {
                throw ArborException.invalid("option '" + T_LIST + "' must be strictly increasing, got " + raw + fix);
            }
        }
        return t;
    }

    private static void refuseGuidance(Options options) {
        for (String key : GUIDANCE_OPTIONS) {
            if (options.has(key)) {
                throw ArborException.invalid(NAME + " does not run classifier-free guidance (the student was "
                        + "distilled from the guided teacher and has no unconditional row); remove option '" + key
                        + "' or use the fashion-ar-flowmap pipeline for the guided teacher");
            }
        }
    }

    /** Standard Gaussians from the request's RNG, token-major. */
    static float[] noise(RandomGenerator random, int count) {
        float[] e = new float[count];
        for (int i = 0; i < count; i++) {
            e[i] = (float) random.nextGaussian();
        }
        return e;
    }

    /** A student: alignment SAME, attention BIDIRECTIONAL, input embeddings, the embedding matrix, the context. */
    static EmbeddingAccess checkStudent(ModelBackend model, ImageLayout layout) {
        ModelCard card = model.card();
        if (layout.scaleCount() != 1) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " decodes single-scale (raster) token "
                    + "maps, but the image tokenizer's layout has scales " + Arrays.toString(layout.scales()));
        }
        if (card.alignment() != LogitAlignment.SAME || card.nativeAttention() != NativeAttention.BIDIRECTIONAL) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " needs a Distilled Decoding student "
                    + "(alignment SAME, attention BIDIRECTIONAL, e.g. fashion-dd), but " + card.name() + " is "
                    + card.alignment() + " / " + card.nativeAttention() + (card.nativeAttention()
                    == NativeAttention.CAUSAL ? "; an AR prior runs with raster-ar (fashion-ar-flowmap is DD's "
                    + "teacher)" : ""));
        }
        for (Capability needed : new Capability[] {Capability.INPUT_EMBEDS, Capability.EMBEDDING_MATRIX,
                Capability.FULL_ATTENTION}) {
            if (!card.supports(needed)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " needs Capability." + needed
                        + " (the student's inputs are noise embeddings, attention is full), but the backend running "
                        + card.name() + " does not list it; run the student on a backend that does");
            }
        }
        EmbeddingAccess embeddings = model.extension(EmbeddingAccess.class).orElseThrow(() -> new ArborException(
                ArborException.Kind.PLUGIN_FAILURE, "the backend running " + card.name() + " lists "
                + "Capability.EMBEDDING_MATRIX but offers no EmbeddingAccess extension"));
        if (card.maxPositions() < layout.tokensPerImage() + 1) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + "'s context of "
                    + card.maxPositions() + " positions cannot hold the class position and an image of "
                    + layout.tokensPerImage() + " tokens");
        }
        return embeddings;
    }

    private static float[][] forward(ModelBackend model, ModelCard card, float[][] x, int positions) {
        ForwardResult r = model.forward(ForwardRequest.builderForEmbeddings(new float[][][] {x})
                .attention(AttentionSpec.FULL).build());
        float[][] rows = r.logits() == null || r.logits().length < 1 ? null : r.logits()[0];
        if (rows == null || rows.length != positions) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                    + (rows == null ? "no" : rows.length) + " logit rows for " + positions + " positions");
        }
        return rows;
    }

    private static int argmax(float[] codes) {
        int best = 0;
        for (int k = 1; k < codes.length; k++) {
            if (codes[k] > codes[best]) {
                best = k;
            }
        }
        return best;
    }

    /** The emitted token with the student's softmax over the codes as its distribution. */
    private static Selection selection(int token, float[] codes) {
        double max = codes[token];
        double sum = 0;
        for (float c : codes) {
            sum += Math.exp(c - max);
        }
        float[] p = new float[codes.length];
        for (int k = 0; k < codes.length; k++) {
            p[k] = (float) (Math.exp(codes[k] - max) / sum);
        }
        double logp = -Math.log(sum);
        return new Selection(token, p, logp, Math.exp(logp));
    }

    /** Embedding rows of one request, fetched once per id. */
    private static final class Rows {
        private final EmbeddingAccess embeddings;
        private final ModelCard card;
        private final Map<Integer, float[]> cache = new HashMap<>();

        Rows(EmbeddingAccess embeddings, ModelCard card) {
            this.embeddings = embeddings;
            this.card = card;
        }

        float[][] embed(StudentInput.Mixture[] input) {
            int width = embeddings.embeddingSize();
            float[][] x = new float[input.length][width];
            for (int p = 0; p < input.length; p++) {
                int[] ids = input[p].ids();
                float[] w = input[p].weights();
                for (int k = 0; k < ids.length; k++) {
                    float[] e = cache.computeIfAbsent(ids[k], this::row);
                    for (int c = 0; c < width; c++) {
                        x[p][c] += w[k] * e[c];
                    }
                }
            }
            return x;
        }

        private float[] row(int id) {
            float[] e = embeddings.embedding(id);
            if (e == null || e.length != embeddings.embeddingSize()) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the backend running " + card.name()
                        + " returned an embedding of " + (e == null ? "no" : e.length) + " values for id " + id
                        + ", its embedding size is " + embeddings.embeddingSize());
            }
            return e;
        }
    }
}
