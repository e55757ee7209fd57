package dev.arbor.generation.distilled;

import java.util.Arrays;

/**
 * Distilled Decoding's teacher flow map (Liu et al. 2024, "Distilled Decoding 1: One-step Sampling of Image
 * Auto-regressive Models with Flow Matching", METHODS.md §3.17): a deterministic map from Gaussian noise
 * {@code ε ∈ ℝ^d} to a token whose law, over {@code ε ~ N(0, I)}, is a given categorical {@code p} over code vectors
 * {@code c_k ∈ ℝ^d}.
 *
 * <p><b>Form implemented</b> (DD's data-generation code is unreleased, so this is the flow-matching construction
 * the paper describes, reconstructed; its exact parameterisation is [unverified]): the linear path
 * {@code x_t = t·c + (1−t)·ε}, {@code c ~ p}, has the marginal velocity {@code v(x,t) = (Σ_k w_k c_k − x)/(1−t)} with
 * posterior weights {@code w_k ∝ p_k·exp(−‖x − t c_k‖²/(2(1−t)²))}. Integrating {@code dx/dt = v} from
 * {@code x_0 = ε} to {@code t → 1} ends on a code vector, and by the marginal property of flow matching the end
 * point is distributed as {@code p}. The token is the argmax posterior weight at the last evaluated time.
 *
 * <p><b>Integration</b>: Euler on the grid {@code t_i = 1 − (1 − i/N)²}, {@code N = }{@link #DEFAULT_STEPS},
 * dense near 1 where {@code 1/(1−t)} grows. An Euler step is {@code x ← x + α(m − x)} with {@code α = Δt/(1−t)}
 * and {@code m} the posterior mean, so it never overshoots. Two shortcuts: (1, exact) once one posterior weight
 * exceeds {@code 1 − 10⁻¹²} the map stops and returns it (along the straight line to a single dominant code the
 * log-ratio of any other code, {@code −a²/2 − a·u} in the signal-to-noise variable {@code a}, is already in its
 * decreasing branch whenever it is negative, so no other code can come back); (2, bounded) codes with
 * {@code p_k < e⁻⁴⁰·max p} are left out of the posterior (their total mass is below {@code K·4·10⁻¹⁸}, a bound on
 * the change of the token law).
 *
 * <p>Thread-safe and immutable; {@link #map} allocates only scratch arrays.
 */
public final class FlowMap {
    /** Euler steps of the default grid (METHODS asks for at least 200). */
    public static final int DEFAULT_STEPS = 256;
    /** Log of the relative probability below which a code is left out of the posterior. */
    static final double PRUNE_LOG = -40;
    /** Posterior weight at which the trajectory is decided. */
    static final double DECIDED = 1 - 1e-12;

    private final double[][] codes;
    private final double[] halfNormSq;
    private final int dim;
    private final double[] grid;

    /** The map over {@code codes} [K][d] (K >= 1, d >= 1, all rows of one length) with the default grid. */
    public FlowMap(float[][] codes) {
        this(codes, DEFAULT_STEPS);
    }

    /** The map over {@code codes} with {@code steps >= 2} Euler steps. */
    public FlowMap(float[][] codes, int steps) {
        if (codes == null || codes.length == 0 || codes[0] == null || codes[0].length == 0) {
            throw new IllegalArgumentException("the flow map needs at least one code vector of dimension >= 1");
        }
        if (steps < 2) {
            throw new IllegalArgumentException("the flow map needs at least 2 Euler steps, got " + steps);
        }
        this.dim = codes[0].length;
        this.codes = new double[codes.length][];
        this.halfNormSq = new double[codes.length];
        for (int k = 0; k < codes.length; k++) {
            if (codes[k] == null || codes[k].length != dim) {
                throw new IllegalArgumentException("code vector " + k + " has " + (codes[k] == null ? 0
                        : codes[k].length) + " components, code vector 0 has " + dim);
            }
            this.codes[k] = new double[dim];
            double n = 0;
            for (int j = 0; j < dim; j++) {
                if (!Float.isFinite(codes[k][j])) {
                    throw new IllegalArgumentException("code vector " + k + " has a non-finite component");
                }
                this.codes[k][j] = codes[k][j];
                n += this.codes[k][j] * this.codes[k][j];
            }
            halfNormSq[k] = n / 2;
        }
        this.grid = new double[steps + 1];
        for (int i = 0; i <= steps; i++) {
            double s = 1 - (double) i / steps;
            grid[i] = 1 - s * s;
        }
    }

    /** Number of code vectors K (the tokens this map can produce are 0..K-1). */
    public int size() {
        return codes.length;
    }

    /** Dimension d of the code vectors (and of the noise). */
    public int dim() {
        return dim;
    }

    /**
     * The token of noise {@code eps} (length {@link #dim()}) under the law given by {@code logits} (length
     * {@link #size()}; {@code -inf} = probability 0, at least one finite): the same inputs always give the same token.
     */
    public int map(float[] logits, double[] eps) {
        if (logits.length != codes.length) {
            throw new IllegalArgumentException("the law has " + logits.length + " entries, the flow map "
                    + codes.length + " code vectors");
        }
        if (eps.length != dim) {
            throw new IllegalArgumentException("the noise has " + eps.length + " components, the code vectors "
                    + dim);
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            if (l == Float.POSITIVE_INFINITY || Float.isNaN(l)) {
                throw new IllegalArgumentException("the flow map needs finite logits or -inf, got " + l);
            }
            max = Math.max(max, l);
        }
        if (max == Double.NEGATIVE_INFINITY) {
            throw new IllegalArgumentException("every logit is -inf: the law is empty");
        }
        int[] active = new int[codes.length];
        int n = 0;
        for (int k = 0; k < logits.length; k++) {
            if (logits[k] - max >= PRUNE_LOG) {
                active[n++] = k;
            }
        }
        if (n == 1) {
            return active[0]; // every trajectory ends on the only code
        }
        active = Arrays.copyOf(active, n);
        double[] logp = new double[n];
        for (int a = 0; a < n; a++) {
            logp[a] = logits[active[a]] - max;
        }
        double[] x = eps.clone();
        double[] w = new double[n];
        double[] m = new double[dim];
        int best = 0;
        int steps = grid.length - 1;
        for (int i = 0; i < steps; i++) {
            double t = grid[i];
            double inv = 1 / ((1 - t) * (1 - t));
            // log w_k = log p_k − ‖x − t c_k‖²/(2(1−t)²) + const(x) = log p_k + (t x·c_k − t² ‖c_k‖²/2)/(1−t)²
            double top = Double.NEGATIVE_INFINITY;
            for (int a = 0; a < n; a++) {
                double[] c = codes[active[a]];
                double dot = 0;
                for (int j = 0; j < dim; j++) {
                    dot += x[j] * c[j];
                }
                w[a] = logp[a] + (t * dot - t * t * halfNormSq[active[a]]) * inv;
                if (w[a] > top) {
                    top = w[a];
                    best = a;
                }
            }
            double sum = 0;
            for (int a = 0; a < n; a++) {
                w[a] = Math.exp(w[a] - top);
                sum += w[a];
            }
            if (1 / sum >= DECIDED) {
                return active[best];
            }
            Arrays.fill(m, 0);
            for (int a = 0; a < n; a++) {
                double wa = w[a] / sum;
                if (wa > 0) {
                    double[] c = codes[active[a]];
                    for (int j = 0; j < dim; j++) {
                        m[j] += wa * c[j];
                    }
                }
            }
            double alpha = (grid[i + 1] - t) / (1 - t);
            for (int j = 0; j < dim; j++) {
                x[j] += alpha * (m[j] - x[j]);
            }
        }
        return active[best];
    }
}
