package dev.arbor.prognostics.arphmm;

import java.util.SplittableRandom;

/** Draws from the model's distributions with a seeded generator (the same seed gives the same draws). */
final class Sampling {
    private Sampling() {
    }

    /** An index drawn with probabilities {@code p} (summing to 1 up to rounding). */
    static int categorical(double[] p, SplittableRandom random) {
        double u = random.nextDouble();
        double c = 0;
        int last = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] > 0) {
                c += p[i];
                last = i;
                if (u < c) {
                    return i;
                }
            }
        }
        return last; // rounding left u above the total: the last state with mass
    }

    /** y ~ N(W_k z, Σ_k). */
    static double[] observation(ArHmm model, int state, double[] z, SplittableRandom random) {
        double[] m = model.mean(state, z);
        double[][] l = model.choleskys[state];
        double[] n = new double[m.length];
        for (int a = 0; a < n.length; a++) {
            n[a] = random.nextGaussian();
        }
        for (int a = 0; a < m.length; a++) {
            double s = 0;
            for (int b = 0; b <= a; b++) {
                s += l[a][b] * n[b];
            }
            m[a] += s;
        }
        return m;
    }

    /** The value at quantile q (0..1) of sorted values, by linear interpolation between order statistics. */
    static double quantile(double[] sorted, double q) {
        if (sorted.length == 1) {
            return sorted[0];
        }
        double pos = q * (sorted.length - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, sorted.length - 1);
        double f = pos - lo;
        if (f == 0 || sorted[lo] == sorted[hi]) {
            return sorted[lo]; // also keeps an infinite order statistic infinite
        }
        return sorted[lo] + f * (sorted[hi] - sorted[lo]);
    }
}
