package dev.arbor.tests.serving;

import java.util.Arrays;

/**
 * Percentiles by the <b>nearest-rank</b> method: the p-th percentile of n sorted values is the value at rank
 * {@code ceil(p/100 * n)} (1-based), so it is always an observed value and p99 of 100 samples is the 99th smallest.
 * No interpolation: with the sample sizes used here (hundreds) interpolation would invent latencies nobody saw.
 */
public final class Percentiles {
    private Percentiles() {
    }

    /** Nearest-rank percentile of {@code values} (any order; not modified); NaN when empty. */
    public static double nearestRank(long[] values, double p) {
        if (p <= 0 || p > 100) {
            throw new IllegalArgumentException("percentile must be in (0, 100], got " + p);
        }
        if (values.length == 0) {
            return Double.NaN;
        }
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        // p * n first: exact for integral p, where p / 100 * n would round 0.99 * 100 to 98.99...
        int rank = (int) Math.ceil(p * sorted.length / 100.0);
        return sorted[Math.max(rank, 1) - 1];
    }
}
