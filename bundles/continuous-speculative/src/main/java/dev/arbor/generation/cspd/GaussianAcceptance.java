package dev.arbor.generation.cspd;

import dev.arbor.api.ArborException;
import java.util.Locale;
import java.util.random.RandomGenerator;

/**
 * The accept/resample rule of Continuous Speculative Decoding for a continuous token drafted from
 * {@code q = N(μ_q, diag v_q)} and verified against {@code p = N(μ_p, diag v_p)} (Wang et al. 2025, "Continuous
 * Speculative Decoding for Autoregressive Image Generation"; {@code github.com/MarkXCloud/CSpD @d91f721 :
 * spec_decode/spec_decode_runner.py} {@code DistributionProcessor}; METHODS.md §3.12). Pure math, thread-safe;
 * every random draw comes from the caller's RNG, in this order: one uniform for the acceptance test, then for each
 * resampling try D standard normals (the proposal) and one uniform.
 *
 * <ul>
 *   <li>{@link Mode#TEXTBOOK}: accept x with probability {@code min(1, p(x)/q(x))} (true densities); on rejection
 *       draw exactly from the residual {@code max(0, p − q)/Z} by rejection sampling with proposals {@code y ~ p},
 *       each accepted with probability {@code max(0, 1 − q(y)/p(y))} (the residual over p, bounded by 1). Accepted
 *       and resampled tokens together are distributed as p. The expected number of tries is {@code 1/Z} (Z = the
 *       total-variation distance of p and q), but a rejection only happens with probability Z, so the cost per token
 *       is about one try; {@code maxTries} caps pathological cases, and a capped resample returns its last proposal,
 *       a draw from p (flagged as a fallback: the output then leans towards p's overlap with q with probability
 *       {@code (1 − Z)^maxTries}).</li>
 *   <li>{@link Mode#AS_CODED}: the reference code. It passes the head's variances into the slots named
 *       {@code std} and its two normalising factors cancel (quirk (1)), so the acceptance ratio is the Gaussian
 *       kernel ratio {@code r(x) = exp(½‖(x−μ_q)/(v_q·T)‖² − ½‖(x−μ_p)/(v_p·T)‖²)} with the inner temperature T
 *       (default 42), accepted when {@code U < r}; the resample proposes {@code y = μ_p + v_p·N(0, I)} and accepts
 *       with {@code max(0, g_p(y) − g_q(y)·Πv_q/Πv_p)/g_p(y)} (g = Gaussian density with v as the std), at most
 *       {@value #AS_CODED_TRIES} tries, after which the token is the zero vector (quirk (2)). This mode does not
 *       preserve p; it exists to reproduce the paper's numbers.</li>
 * </ul>
 */
public final class GaussianAcceptance {

    /** Which rule. */
    public enum Mode {
        /** The reference code's rule, quirks included (reproduction). */
        AS_CODED,
        /** The density-ratio rule with the exact residual (correctness: the output has the target's law). */
        TEXTBOOK;

        /** The option value ({@code as_coded}, {@code textbook}). */
        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** {@code as_coded} or {@code textbook} (case ignored); null for anything else. */
        public static Mode parse(String s) {
            for (Mode m : values()) {
                if (m.wireName().equalsIgnoreCase(s == null ? "" : s.strip())) {
                    return m;
                }
            }
            return null;
        }
    }

    /** The reference code's inner temperature ({@code SpecDecodeRunner(inner_temperature=42.)}). */
    public static final double DEFAULT_INNER_TEMPERATURE = 42.0;
    /** The reference code's resampling tries ({@code for i in range(100)}). */
    public static final int AS_CODED_TRIES = 100;
    /** Default cap of the textbook residual sampler's tries. */
    public static final int DEFAULT_TEXTBOOK_TRIES = 10_000;

    /**
     * A verified token.
     *
     * @param token    the token kept: the draft's (accepted) or the resampled one
     * @param accepted whether the draft was accepted
     * @param tries    resampling proposals drawn (0 when accepted)
     * @param fallback the resample hit its cap: the token is the mode's fallback (see the class comment)
     */
    public record Verdict(float[] token, boolean accepted, int tries, boolean fallback) {
    }

    private final Mode mode;
    private final double innerTemperature;
    private final int maxTries;

    /**
     * @param mode             the rule
     * @param innerTemperature T of {@link Mode#AS_CODED} (positive; unused by TEXTBOOK)
     * @param maxTries         cap of resampling proposals (at least 1); AS_CODED's reference value is
     *                         {@value #AS_CODED_TRIES}
     */
    public GaussianAcceptance(Mode mode, double innerTemperature, int maxTries) {
        if (mode == null) {
            throw new IllegalArgumentException("mode");
        }
        if (!(innerTemperature > 0) || !Double.isFinite(innerTemperature)) {
            throw ArborException.invalid("inner_temperature must be a positive number, got " + innerTemperature);
        }
        if (maxTries < 1) {
            throw new IllegalArgumentException("maxTries must be at least 1, got " + maxTries);
        }
        this.mode = mode;
        this.innerTemperature = innerTemperature;
        this.maxTries = maxTries;
    }

    /** The reference rule with inner temperature {@code t} and its 100 tries. */
    public static GaussianAcceptance asCoded(double t) {
        return new GaussianAcceptance(Mode.AS_CODED, t, AS_CODED_TRIES);
    }

    /** The density-ratio rule with the exact residual, capped at {@code maxTries} proposals. */
    public static GaussianAcceptance textbook(int maxTries) {
        return new GaussianAcceptance(Mode.TEXTBOOK, DEFAULT_INNER_TEMPERATURE, maxTries);
    }

    public Mode mode() {
        return mode;
    }

    public double innerTemperature() {
        return innerTemperature;
    }

    public int maxTries() {
        return maxTries;
    }

    /** The probability of keeping the draft token {@code x}: {@code min(1, r(x))} with the mode's ratio. */
    public double acceptProbability(float[] x, DiagonalGaussian q, DiagonalGaussian p) {
        return Math.min(1.0, Math.exp(logRatio(x, q, p)));
    }

    /** log of the mode's acceptance ratio at {@code x}. */
    double logRatio(float[] x, DiagonalGaussian q, DiagonalGaussian p) {
        check(x, q, p);
        if (mode == Mode.TEXTBOOK) {
            return p.logDensity(x) - q.logDensity(x);
        }
        double t = innerTemperature;
        double s = 0;
        for (int j = 0; j < x.length; j++) {
            double a = (x[j] - q.mean(j)) / (q.variance(j) * t);
            double b = (x[j] - p.mean(j)) / (p.variance(j) * t);
            s += 0.5 * a * a - 0.5 * b * b;
        }
        return s;
    }

    /**
     * Verifies draft token {@code x} (drawn from q): keeps it when {@code U < r(x)}, else resamples
     * ({@link #resample}).
     */
    public Verdict verify(float[] x, DiagonalGaussian q, DiagonalGaussian p, RandomGenerator rng) {
        double logR = logRatio(x, q, p);
        double u = rng.nextDouble();
        // U < r, in logs (r may overflow); U = 0 accepts like the reference's `prob > guess` with guess = 0
        if (u == 0.0 || Math.log(u) < logR) {
            return new Verdict(x.clone(), true, 0, false);
        }
        return resample(q, p, rng);
    }

    /** A token from the mode's residual (see the class comment); {@code accepted} is false. */
    public Verdict resample(DiagonalGaussian q, DiagonalGaussian p, RandomGenerator rng) {
        int dim = p.dim();
        if (q.dim() != dim) {
            throw new IllegalArgumentException("draft and target Gaussians of " + q.dim() + " and " + dim + " values");
        }
        float[] y = new float[dim];
        for (int tries = 1; tries <= maxTries; tries++) {
            for (int j = 0; j < dim; j++) {
                double z = rng.nextGaussian();
                double width = mode == Mode.TEXTBOOK ? Math.sqrt(p.variance(j)) : p.variance(j);
                y[j] = (float) (p.mean(j) + width * z);
            }
            double u = rng.nextDouble();
            if (u < residualOverProposal(y, q, p)) {
                return new Verdict(y.clone(), false, tries, false);
            }
        }
        return mode == Mode.TEXTBOOK ? new Verdict(y, false, maxTries, true)
                : new Verdict(new float[dim], false, maxTries, true);
    }

    /**
     * The acceptance probability of proposal {@code y} in the resampler: TEXTBOOK {@code max(0, 1 − q(y)/p(y))},
     * AS_CODED {@code max(0, g_p(y) − g_q(y)·Πv_q/Πv_p)/g_p(y)} with g using the variance as the std.
     */
    double residualOverProposal(float[] y, DiagonalGaussian q, DiagonalGaussian p) {
        double logQOverP;
        if (mode == Mode.TEXTBOOK) {
            logQOverP = q.logDensity(y) - p.logDensity(y);
        } else {
            // g_q·Πv_q/Πv_p / g_p: the normalisers Πv cancel against the factor, leaving the kernels' ratio
            logQOverP = q.logDensityVarianceAsStd(y) - p.logDensityVarianceAsStd(y);
            for (int j = 0; j < y.length; j++) {
                logQOverP += Math.log(q.variance(j)) - Math.log(p.variance(j));
            }
        }
        return Math.max(0.0, 1.0 - Math.exp(logQOverP));
    }

    private static void check(float[] x, DiagonalGaussian q, DiagonalGaussian p) {
        if (x.length != q.dim() || x.length != p.dim()) {
            throw new IllegalArgumentException("token of " + x.length + " values for Gaussians of " + q.dim()
                    + " and " + p.dim());
        }
    }

    @Override
    public String toString() {
        return "GaussianAcceptance[" + mode.wireName() + (mode == Mode.AS_CODED ? ", T=" + innerTemperature : "")
                + ", maxTries=" + maxTries + "]";
    }
}
