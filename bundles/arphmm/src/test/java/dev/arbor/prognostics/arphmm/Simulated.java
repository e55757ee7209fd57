package dev.arbor.prognostics.arphmm;

import java.util.SplittableRandom;

/** Sequences drawn from a known ARHMM, with their true state paths (test data). */
final class Simulated {
    final double[][] y;
    /** The state of each step t ≥ P (entry t - P). */
    final int[] states;

    private Simulated(double[][] y, int[] states) {
        this.y = y;
        this.states = states;
    }

    /** T steps: the first P are N(0, 1) noise (conditioning only), then the chain starts from π at step P. */
    static Simulated draw(ArHmm model, int length, SplittableRandom random) {
        int p = model.order();
        double[][] y = new double[length][];
        for (int t = 0; t < p; t++) {
            y[t] = new double[model.dimension()];
            for (int a = 0; a < model.dimension(); a++) {
                y[t][a] = random.nextGaussian();
            }
        }
        int[] states = new int[length - p];
        int s = Sampling.categorical(model.initial, random);
        for (int t = p; t < length; t++) {
            if (t > p) {
                s = Sampling.categorical(model.transitions[s], random);
            }
            states[t - p] = s;
            y[t] = Sampling.observation(model, s, model.regressor(y, t), random);
        }
        return new Simulated(y, states);
    }

    /** One-hot plausibilities of the true states (rows 0..P-1, which only condition, all ones). */
    double[][] oneHot(int k, int p) {
        double[][] l = new double[y.length][k];
        for (int t = 0; t < y.length; t++) {
            if (t < p) {
                java.util.Arrays.fill(l[t], 1);
            } else {
                l[t][states[t - p]] = 1;
            }
        }
        return l;
    }
}
