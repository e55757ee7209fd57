package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.Cancellation;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Remaining useful life under an ARPHMM (METHODS §3.19): the number of steps after the last observation until the
 * chain first enters the failure state. Analytically, the expected value is the expected absorption time
 * {@code γ_Tᵀ (I − Q)^{-1} 1} with Q the transition block among the other states and γ_T the current state
 * posterior (the fundamental matrix of an absorbing chain; the failure state need not be absorbing, its first entry
 * counts). By Monte-Carlo, state paths are simulated from γ_T and their hitting times give quantiles.
 */
final class RemainingUsefulLife {
    private RemainingUsefulLife() {
    }

    /**
     * The expected steps until the failure state from each state (0 for the failure state itself,
     * {@code +∞} for states from which it cannot be reached).
     */
    static double[] expectedFromEachState(ArHmm model) {
        int k = model.states;
        int f = model.failureState;
        boolean[] reaches = reachesFailure(model);
        int[] index = new int[k];
        int n = 0;
        for (int s = 0; s < k; s++) {
            index[s] = s != f && reaches[s] ? n++ : -1;
        }
        double[][] m = new double[n][n];
        double[] ones = new double[n];
        for (int s = 0; s < k; s++) {
            if (index[s] < 0) {
                continue;
            }
            ones[index[s]] = 1;
            for (int j = 0; j < k; j++) {
                if (index[j] >= 0) {
                    m[index[s]][index[j]] = (s == j ? 1 : 0) - model.transitions[s][j];
                }
            }
        }
        double[] t = n == 0 ? new double[0] : Linalg.solve(m, ones);
        if (t == null) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "ARPHMM: I - Q is singular although every"
                    + " state reaches the failure state; the transition matrix is too close to a trap");
        }
        double[] out = new double[k];
        for (int s = 0; s < k; s++) {
            out[s] = s == f ? 0 : index[s] < 0 ? Double.POSITIVE_INFINITY : t[index[s]];
        }
        return out;
    }

    /** γᵀ (I − Q)^{-1} 1: the expected remaining useful life given the current posterior. */
    static double expected(ArHmm model, double[] posterior) {
        double[] t = expectedFromEachState(model);
        double e = 0;
        for (int s = 0; s < t.length; s++) {
            if (posterior[s] > 0) {
                e += posterior[s] * t[s];
            }
        }
        return e;
    }

    /**
     * {@code samples} simulated hitting times from {@code posterior}, sorted; a path still short of the failure state
     * after {@code maxSteps} counts as {@code +∞} (censored). Checks {@code cancellation} every 64 paths.
     */
    static double[] simulate(ArHmm model, double[] posterior, int samples, int maxSteps, long seed,
                             Cancellation cancellation) {
        SplittableRandom random = new SplittableRandom(seed);
        double[] times = new double[samples];
        for (int i = 0; i < samples; i++) {
            if ((i & 63) == 0 && cancellation.isCancelled()) {
                throw new ArborException(ArborException.Kind.CANCELLED, "the remaining-useful-life simulation was"
                        + " cancelled or ran past the request's deadline after " + i + " of " + samples + " paths;"
                        + " ask for fewer samples");
            }
            int s = Sampling.categorical(posterior, random);
            int steps = 0;
            while (s != model.failureState && steps < maxSteps) {
                s = Sampling.categorical(model.transitions[s], random);
                steps++;
            }
            times[i] = s == model.failureState ? steps : Double.POSITIVE_INFINITY;
        }
        Arrays.sort(times);
        return times;
    }

    private static boolean[] reachesFailure(ArHmm model) {
        int k = model.states;
        boolean[] reaches = new boolean[k];
        reaches[model.failureState] = true;
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int s = 0; s < k; s++) {
                if (!reaches[s]) {
                    for (int j = 0; j < k; j++) {
                        if (reaches[j] && model.transitions[s][j] > 0) {
                            reaches[s] = true;
                            changed = true;
                            break;
                        }
                    }
                }
            }
        }
        return reaches;
    }
}
