package dev.arbor.prognostics.arphmm;

/**
 * The most probable state path of a sequence under the ARPHMM (Viterbi, in log space so long sequences do not
 * underflow), with the plausibilities as log-weights as in {@link ForwardBackward}: the path maximises
 * {@code log π + Σ log A + Σ_t (log l_t(s_t) + log N_{s_t}(y_t))}. Ties go to the lower state index.
 */
final class Viterbi {
    private Viterbi() {
    }

    /** The path over steps P..T-1 (entry i is the state of step P + i). */
    static int[] path(ArHmm model, Emissions e) {
        int n = e.steps();
        int k = model.states;
        double[][] logA = new double[k][k];
        for (int j = 0; j < k; j++) {
            for (int s = 0; s < k; s++) {
                logA[j][s] = Math.log(model.transitions[j][s]);
            }
        }
        double[] delta = new double[k];
        int[][] back = new int[n][k];
        for (int s = 0; s < k; s++) {
            delta[s] = Math.log(model.initial[s]) + Math.log(e.plausibility[0][s]) + e.logDensity[0][s];
        }
        for (int t = 1; t < n; t++) {
            double[] next = new double[k];
            for (int s = 0; s < k; s++) {
                int best = 0;
                double bestScore = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < k; j++) {
                    double v = delta[j] + logA[j][s];
                    if (v > bestScore) {
                        bestScore = v;
                        best = j;
                    }
                }
                back[t][s] = best;
                next[s] = bestScore + Math.log(e.plausibility[t][s]) + e.logDensity[t][s];
            }
            delta = next;
        }
        int[] path = new int[n];
        int last = 0;
        for (int s = 1; s < k; s++) {
            if (delta[s] > delta[last]) {
                last = s;
            }
        }
        path[n - 1] = last;
        for (int t = n - 1; t > 0; t--) {
            path[t - 1] = back[t][path[t]];
        }
        return path;
    }

    /** The joint log-score of {@code path} (what the Viterbi path maximises), for tests and reports. */
    static double score(ArHmm model, Emissions e, int[] path) {
        double v = Math.log(model.initial[path[0]]) + Math.log(e.plausibility[0][path[0]]) + e.logDensity[0][path[0]];
        for (int t = 1; t < path.length; t++) {
            v += Math.log(model.transitions[path[t - 1]][path[t]]) + Math.log(e.plausibility[t][path[t]])
                    + e.logDensity[t][path[t]];
        }
        return v;
    }
}
