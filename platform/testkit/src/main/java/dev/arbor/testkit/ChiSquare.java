package dev.arbor.testkit;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.commons.math3.distribution.ChiSquaredDistribution;
import org.apache.commons.math3.stat.inference.ChiSquareTest;
import org.junit.jupiter.api.Assertions;

/**
 * Pearson's chi-square goodness-of-fit test of observed counts against exact probabilities, for
 * distribution-exactness tests (a sampler or decoder must reproduce a known distribution, METHODS.md §5.5).
 *
 * <p>Conventions, chosen so that the test can neither pass vacuously nor fail on a technicality:
 * <ul>
 *   <li>A cell of probability 0 that was observed makes the test fail outright (statistic {@code +inf}, p = 0):
 *       an impossible outcome is proof of a wrong distribution.</li>
 *   <li>Cells whose expected count is below {@code minExpected} (5 by the usual rule of thumb) are pooled into one
 *       cell, because the chi-square approximation is poor for them; if the pool itself is still below it, it is
 *       merged with the smallest remaining cell.</li>
 *   <li>Degrees of freedom = cells after pooling - 1. The statistic ({@link ChiSquareTest#chiSquare}) and the
 *       upper-tail p-value ({@link ChiSquaredDistribution}) come from Apache Commons Math.</li>
 * </ul>
 * Several tests in one suite should use {@link #bonferroni} so that the family-wise error stays at {@code alpha}.
 */
public final class ChiSquare {
    /** The usual minimum expected count per cell for the chi-square approximation. */
    public static final double DEFAULT_MIN_EXPECTED = 5.0;

    private ChiSquare() {
    }

    /**
     * The outcome of one test.
     *
     * @param statistic        Pearson's statistic (sum of (O-E)^2/E over pooled cells); {@code +inf} when an
     *                         impossible cell was observed
     * @param degreesOfFreedom pooled cells minus one
     * @param pValue           P(X >= statistic) for X ~ chi-square(degreesOfFreedom)
     * @param samples          total observed count
     */
    public record Result(double statistic, int degreesOfFreedom, double pValue, long samples) {
        /** True when the observed counts are consistent with the expected distribution at level {@code alpha}. */
        public boolean accepts(double alpha) {
            return pValue >= alpha;
        }
    }

    /** The per-test level that keeps the family-wise error of {@code tests} tests at {@code alpha} (Bonferroni). */
    public static double bonferroni(double alpha, int tests) {
        if (!(alpha > 0 && alpha < 1) || tests < 1) {
            throw new IllegalArgumentException("need 0 < alpha < 1 and tests >= 1, got " + alpha + ", " + tests);
        }
        return alpha / tests;
    }

    /** Tests {@code observed[i]} counts against probabilities {@code expected[i]} (which must sum to 1). */
    public static Result test(double[] expected, long[] observed) {
        return test(expected, observed, DEFAULT_MIN_EXPECTED);
    }

    /** As {@link #test(double[], long[])} with an explicit pooling threshold. */
    public static Result test(double[] expected, long[] observed, double minExpected) {
        if (expected.length != observed.length) {
            throw new IllegalArgumentException(expected.length + " probabilities but " + observed.length + " counts");
        }
        double sum = 0;
        long n = 0;
        for (int i = 0; i < expected.length; i++) {
            if (!(expected[i] >= 0) || observed[i] < 0) {
                throw new IllegalArgumentException("cell " + i + " has probability " + expected[i] + " and count "
                        + observed[i] + "; need p >= 0 and count >= 0");
            }
            sum += expected[i];
            n += observed[i];
        }
        if (Math.abs(sum - 1) > 1e-6) {
            throw new IllegalArgumentException("expected probabilities sum to " + sum + ", not 1");
        }
        if (n == 0) {
            throw new IllegalArgumentException("no observations");
        }
        List<double[]> cells = new ArrayList<>(); // {expected count, observed count}
        double pooledExpected = 0;
        double pooledObserved = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i] * n;
            if (expected[i] == 0) {
                if (observed[i] > 0) {
                    return new Result(Double.POSITIVE_INFINITY, Math.max(1, expected.length - 1), 0.0, n);
                }
                continue;
            }
            if (e < minExpected) {
                pooledExpected += e;
                pooledObserved += observed[i];
            } else {
                cells.add(new double[] {e, observed[i]});
            }
        }
        if (pooledExpected > 0) {
            if (pooledExpected >= minExpected || cells.isEmpty()) {
                cells.add(new double[] {pooledExpected, pooledObserved});
            } else {
                double[] smallest = cells.get(0);
                for (double[] c : cells) {
                    if (c[0] < smallest[0]) {
                        smallest = c;
                    }
                }
                smallest[0] += pooledExpected;
                smallest[1] += pooledObserved;
            }
        }
        if (cells.size() < 2) {
            // One cell cannot disagree with anything; say so rather than return a vacuous p = 1.
            throw new IllegalArgumentException("after pooling cells with expected count < " + minExpected
                    + " only one cell is left; draw more samples");
        }
        double[] e = new double[cells.size()];
        long[] o = new long[cells.size()];
        for (int i = 0; i < e.length; i++) {
            e[i] = cells.get(i)[0];
            o[i] = Math.round(cells.get(i)[1]);
        }
        double statistic = new ChiSquareTest().chiSquare(e, o);
        int df = cells.size() - 1;
        double p = 1 - new ChiSquaredDistribution(null, df).cumulativeProbability(statistic);
        return new Result(statistic, df, Math.max(0, p), n);
    }

    /** Tests counts keyed by outcome against a map of exact probabilities; observed keys not in it are impossible. */
    public static <K> Result test(Map<K, Double> expected, Map<K, Long> observed) {
        Set<K> keys = new LinkedHashSet<>(expected.keySet());
        keys.addAll(observed.keySet());
        double[] e = new double[keys.size()];
        long[] o = new long[keys.size()];
        int i = 0;
        for (K k : keys) {
            e[i] = expected.getOrDefault(k, 0.0);
            o[i] = observed.getOrDefault(k, 0L);
            i++;
        }
        return test(e, o);
    }

    /** Fails the calling JUnit test, with the statistic in the message, unless {@code result} accepts at alpha. */
    public static void assertConsistent(Result result, double alpha) {
        Assertions.assertTrue(result.accepts(alpha), () -> "observed counts are inconsistent with the expected "
                + "distribution: chi2=" + result.statistic() + ", df=" + result.degreesOfFreedom() + ", p="
                + result.pValue() + " < alpha=" + alpha + " over " + result.samples() + " samples");
    }
}
