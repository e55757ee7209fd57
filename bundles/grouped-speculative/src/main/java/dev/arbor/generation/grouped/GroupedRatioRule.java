package dev.arbor.generation.grouped;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.jacobi.AcceptanceRule;
import dev.arbor.sampling.SamplingMath;
import java.util.HashMap;
import java.util.Map;

/**
 * GSD's grouped acceptance ratio (So et al. 2025, "Grouped Speculative Decoding for Autoregressive Image
 * Generation"), as implemented in {@code github.com/junhyukso/GSD @4216c7c : scheduler/jacobi_iteration_lumina_mgpt.py}
 * ({@code SpeculativeSampler.__call__}) and specified in METHODS.md section 3.1. For draft token x at a row with
 * processed target logits l, probabilities p and draft distribution q:
 * <ol>
 *   <li>Order the vocabulary by l ascending (ties: lower id first) and let r be x's rank.</li>
 *   <li>Candidates C: the ids at ranks {@code r - below .. r + above} (reference: the slice {@code [r-7 : r+7]},
 *       that is 7 below and 6 above, 14 ids with x).</li>
 *   <li>Group G: the y in C with {@code |p(y) - p(x)| < p_thr} and {@code ||e_y - e_x||^2 < d_thr}, e the model's
 *       input-embedding rows ({@link EmbeddingAccess}). x itself is always in G (both thresholds are positive).</li>
 *   <li>Ratio {@code P(G) / Q(G)}; the loop accepts with probability {@code min(1, ratio)}.</li>
 * </ol>
 * The residual draw at a rejection stays token-level ({@code norm(max(0, p - q))}), exactly as in the reference, so
 * GSD is lossy by design: it accepts tokens that are "close enough" to what the target would sample. With
 * {@code below = above = 0} the group is {x} and the ratio is bit-for-bit SJD's {@code p(x)/q(x)}.
 *
 * <p><b>Where the reference leaves details open, and what this class does</b>:
 * <ul>
 *   <li>Ranks near the bottom of the order: the reference slices with {@code r - 7}, which is negative for
 *       {@code r < 7}; Python/torch slicing then yields an empty tensor, {@code .max()} raises and the
 *       {@code except} falls back to {@code p(x)/q(x)}. That is an artefact, not a design: here the window is clipped
 *       to the vocabulary at both ends (the reference clips only the top end). On an image vocabulary of thousands
 *       of ids those ranks are the least likely tokens and the difference is immaterial; on tiny vocabularies it
 *       keeps GSD meaningful.</li>
 *   <li>The embedding test applies only when every candidate id is at most 10000 in the reference (its distance
 *       table covers {@code embed_tokens.weight[:10000]}, the image ids of Lumina-mGPT); here it applies to every id,
 *       since the distance is computed on demand from {@link EmbeddingAccess} rather than from a precomputed table.</li>
 *   <li>The squared distance is summed in double over the coordinates, where the reference computes
 *       {@code |a|^2 + |b|^2 - 2ab} in float32 (which can come out slightly negative); the thresholds mean the same.</li>
 *   <li>Window, neighbourhood and thresholds are options (the reference hard-codes W = 16, 7/6, 0.15 and 0.5).</li>
 *   <li>{@code Q(G) = 0} cannot happen (x is in G and q(x) &gt; 0 for a draft drawn from q); if it did, the ratio
 *       is NaN and the loop rejects, as the reference's {@code r < NaN} does.</li>
 * </ul>
 * Embedding rows are fetched once per request and cached here (a rule serves one request).
 */
final class GroupedRatioRule implements AcceptanceRule {
    /** Option: candidate ranks below x (lower logits); reference 7. */
    static final String NEIGHBOURS_BELOW = "neighbours_below";
    /** Option: candidate ranks above x (higher logits); reference 6. */
    static final String NEIGHBOURS_ABOVE = "neighbours_above";
    /** Option: probability-closeness threshold; reference 0.15 (strict {@code <}). */
    static final String P_THR = "p_thr";
    /** Option: squared-L2 input-embedding distance threshold; reference 0.5 (strict {@code <}). */
    static final String D_THR = "d_thr";

    /**
     * The validated GSD options.
     *
     * @param below     ranks below x in the candidate window
     * @param above     ranks above x
     * @param pThreshold |p(y) - p(x)| must be below this
     * @param dThreshold ||e_y - e_x||^2 must be below this
     */
    record Config(int below, int above, double pThreshold, double dThreshold) {
        static final Config REFERENCE = new Config(7, 6, 0.15, 0.5);

        static Config of(Options options) {
            int below = options.integer(NEIGHBOURS_BELOW, REFERENCE.below, 0, 1 << 20);
            int above = options.integer(NEIGHBOURS_ABOVE, REFERENCE.above, 0, 1 << 20);
            double p = options.number(P_THR, REFERENCE.pThreshold, 0, 1);
            double d = options.number(D_THR, REFERENCE.dThreshold, 0, Double.MAX_VALUE);
            if (!(p > 0)) {
                throw ArborException.invalid("option '" + P_THR + "' must be greater than 0 (the test is strict, "
                        + "|p(y) - p(x)| < p_thr, so 0 would leave even the draft token out of its group); for groups "
                        + "of one set '" + NEIGHBOURS_BELOW + "' and '" + NEIGHBOURS_ABOVE + "' to 0, got " + p);
            }
            if (!(d > 0)) {
                throw ArborException.invalid("option '" + D_THR + "' must be greater than 0 (the test is strict, "
                        + "||e_y - e_x||^2 < d_thr, so 0 would leave even the draft token out of its group); for groups "
                        + "of one set '" + NEIGHBOURS_BELOW + "' and '" + NEIGHBOURS_ABOVE + "' to 0, got " + d);
            }
            return new Config(below, above, p, d);
        }
    }

    private final EmbeddingAccess embeddings;
    private final Config config;
    private final String modelName;
    private final Map<Integer, float[]> rows = new HashMap<>();
    private long groupSizes;
    private long verifications;

    GroupedRatioRule(EmbeddingAccess embeddings, Config config, String modelName) {
        this.embeddings = embeddings;
        this.config = config;
        this.modelName = modelName;
    }

    @Override
    public double ratio(Verification v) {
        int x = v.token();
        float[] logits = v.logits();
        double[] p = v.target();
        int n = logits.length;
        double px = p[x];
        int[] order = SamplingMath.argsortAscending(toDouble(logits));
        int r = 0;
        while (order[r] != x) {
            r++;
        }
        int from = Math.max(0, r - config.below());
        int to = (int) Math.min(n - 1L, (long) r + config.above());
        double groupP = 0;
        double groupQ = 0;
        int size = 0;
        float[] ex = config.below() == 0 && config.above() == 0 ? null : row(x);
        for (int rank = from; rank <= to; rank++) {
            int y = order[rank];
            if (!(Math.abs(p[y] - px) < config.pThreshold())) {
                continue;
            }
            if (y != x && !(squaredDistance(ex, row(y)) < config.dThreshold())) {
                continue;
            }
            groupP += p[y];
            groupQ += v.draftProbability(y);
            size++;
        }
        groupSizes += size;
        verifications++;
        return groupP / groupQ;
    }

    /** {@code grouped.mean_group_size}: mean |G| over this request's verifications (0 when none). */
    @Override
    public Map<String, Object> stats() {
        return Map.of("grouped.mean_group_size", verifications == 0 ? 0.0 : (double) groupSizes / verifications,
                "grouped.neighbours_below", config.below(), "grouped.neighbours_above", config.above(),
                "grouped.p_thr", config.pThreshold(), "grouped.d_thr", config.dThreshold());
    }

    private float[] row(int id) {
        return rows.computeIfAbsent(id, k -> {
            float[] e = embeddings.embedding(k);
            if (e == null || e.length != embeddings.embeddingSize()) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the embedding access of " + modelName
                        + " returned " + (e == null ? "no row" : "a row of " + e.length + " values") + " for token "
                        + k + " but declares embeddings of " + embeddings.embeddingSize());
            }
            return e;
        });
    }

    private static double squaredDistance(float[] a, float[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            double d = (double) a[i] - b[i];
            sum += d * d;
        }
        return sum;
    }

    private static double[] toDouble(float[] values) {
        double[] out = new double[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = values[i];
        }
        return out;
    }
}
