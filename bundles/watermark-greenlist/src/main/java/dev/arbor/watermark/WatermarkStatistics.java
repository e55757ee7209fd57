package dev.arbor.watermark;

import org.apache.commons.math3.distribution.NormalDistribution;
import org.apache.commons.math3.special.Erf;

/**
 * The hypothesis test behind green-list watermarks (Kirchenbauer et al. 2023, "A Watermark for Large Language
 * Models", §4): under the null hypothesis (text written without knowledge of the key) each scored token is green
 * with probability γ independently, so the green count g of T tokens has mean γT and variance Tγ(1−γ), and
 * {@code z = (g − γT) / sqrt(Tγ(1−γ))} is approximately standard normal. Detection is one-sided (a watermark only
 * raises g).
 *
 * <p>{@link #pValue} is the normal upper tail {@code 1 − Φ(z) = erfc(z/√2)/2} (Commons Math), accurate far into
 * the tail; Hugging Face's {@code WatermarkDetector._compute_pval} uses a closed-form approximation of Φ instead.
 * The normal approximation itself is not: repeated tokens, tokens sharing a list and short texts make the true
 * tail heavier, so the detectors report and decide on the exact tail of {@link RandomSubsetNull} instead, and
 * z-scores remain for comparison.
 */
public final class WatermarkStatistics {
    private static final NormalDistribution STANDARD_NORMAL = new NormalDistribution(null, 0, 1);

    private WatermarkStatistics() {
    }

    /**
     * {@code (green − γ·scored) / sqrt(scored·γ·(1−γ))}; 0 when nothing was scored (no evidence either way).
     *
     * @throws IllegalArgumentException for γ outside (0, 1), negative counts or green &gt; scored
     */
    public static double zScore(long green, long scored, double gamma) {
        if (!(gamma > 0 && gamma < 1)) {
            throw new IllegalArgumentException("green-list fraction must be in (0, 1), got " + gamma);
        }
        if (scored < 0 || green < 0 || green > scored) {
            throw new IllegalArgumentException("green count " + green + " of " + scored + " scored tokens");
        }
        if (scored == 0) {
            return 0;
        }
        return (green - gamma * scored) / Math.sqrt(scored * gamma * (1 - gamma));
    }

    /**
     * The z-score of a weighted green count when the green list is a uniformly random subset of {@code γ·universe}
     * of {@code universe} ids, independent of the text (a random key): the text's ids occur {@code c_v} times,
     * {@code total = Σ c_v}, {@code sumOfSquares = Σ c_v²}, {@code green = Σ_{v green} c_v}. Then
     * {@code E[green] = γ·total} and, sampling ids without replacement,
     * {@code Var[green] = γ(1−γ)·(universe·Σc_v² − total²)/(universe − 1)} — exact, so repeated ids (which move
     * together) widen the null instead of inflating z. With every c_v = 1 this is the hypergeometric variance.
     * Returns 0 when the variance is 0 (nothing scored, or every id of the universe equally often).
     */
    public static double zScoreRandomSubset(long green, long total, long sumOfSquares, long universe, double gamma) {
        if (!(gamma > 0 && gamma < 1)) {
            throw new IllegalArgumentException("green-list fraction must be in (0, 1), got " + gamma);
        }
        if (universe < 2 || total < 0 || green < 0 || green > total || sumOfSquares < total) {
            throw new IllegalArgumentException("green " + green + " of " + total + " (sum of squares " + sumOfSquares
                    + ") over " + universe + " ids");
        }
        double variance = gamma * (1 - gamma) * ((double) universe * sumOfSquares - (double) total * total)
                / (universe - 1);
        return variance <= 0 ? 0 : (green - gamma * total) / Math.sqrt(variance);
    }

    /** One-sided p-value {@code P(Z ≥ z)} for a standard normal Z. */
    public static double pValue(double z) {
        if (Double.isNaN(z)) {
            throw new IllegalArgumentException("z-score is NaN");
        }
        return 0.5 * Erf.erfc(z / Math.sqrt(2));
    }

    /**
     * Šidák correction: the probability that the smallest of {@code tests} independent p-values is at most
     * {@code p}, i.e. {@code 1 − (1 − p)^tests}, computed without cancellation. Never larger than Bonferroni's
     * {@code tests·p}; exact when the tests are independent, as the lists of a keyed pool are given the text.
     */
    public static double sidak(double p, int tests) {
        checkTests(tests);
        if (p >= 1) {
            return 1;
        }
        if (tests == 1) {
            return p; // exactly, without a log/exp round trip
        }
        return -Math.expm1(tests * Math.log1p(-p));
    }

    /** Bonferroni correction {@code min(1, tests·p)}: valid under any dependence between the tests. */
    public static double bonferroni(double p, int tests) {
        checkTests(tests);
        return Math.min(1, p * tests);
    }

    /** The per-test level that keeps the family-wise false-positive rate at {@code alpha} (inverse Šidák). */
    public static double sidakPerTestLevel(double alpha, int tests) {
        checkTests(tests);
        return -Math.expm1(Math.log1p(-alpha) / tests);
    }

    /** The z above which a one-sided test has level {@code alpha}: {@code Φ⁻¹(1 − alpha)}. */
    public static double zThreshold(double alpha) {
        if (!(alpha > 0 && alpha < 1)) {
            throw new IllegalArgumentException("alpha must be in (0, 1), got " + alpha);
        }
        // Φ⁻¹(1 − a) = −Φ⁻¹(a): evaluating at the small tail keeps precision for tiny alpha.
        return -STANDARD_NORMAL.inverseCumulativeProbability(alpha);
    }

    private static void checkTests(int tests) {
        if (tests < 1) {
            throw new IllegalArgumentException("number of tests must be at least 1, got " + tests);
        }
    }
}
