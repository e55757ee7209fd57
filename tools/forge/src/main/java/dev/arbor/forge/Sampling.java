package dev.arbor.forge;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Temperature and nucleus (top-p, Holtzman et al. 2020) sampling from one row of logits, as the pipelines' default
 * processor chain does it; the forge needs it outside OSGi (corpus distillation, samples for the model cards).
 */
final class Sampling {
    private Sampling() {
    }

    /** Samples an id; temperature 0 is greedy, topP >= 1 keeps the whole distribution. */
    static int sample(float[] logits, float temperature, float topP, SplittableRandom rng) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        if (temperature <= 0) {
            return best;
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp((logits[i] - logits[best]) / temperature);
            sum += p[i];
        }
        if (topP < 1) {
            Integer[] order = new Integer[p.length];
            for (int i = 0; i < order.length; i++) {
                order[i] = i;
            }
            double[] pp = p;
            Arrays.sort(order, (a, b) -> Double.compare(pp[b], pp[a]));
            double cum = 0;
            double kept = 0;
            boolean[] keep = new boolean[p.length];
            for (Integer i : order) {
                keep[i] = true;
                kept += p[i];
                cum += p[i] / sum;
                if (cum >= topP) {
                    break;
                }
            }
            for (int i = 0; i < p.length; i++) {
                if (!keep[i]) {
                    p[i] = 0;
                }
            }
            sum = kept;
        }
        double u = rng.nextDouble() * sum;
        for (int i = 0; i < p.length; i++) {
            u -= p[i];
            if (u <= 0 && p[i] > 0) {
                return i;
            }
        }
        return best;
    }
}
