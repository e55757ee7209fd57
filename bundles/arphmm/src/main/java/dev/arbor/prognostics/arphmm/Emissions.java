package dev.arbor.prognostics.arphmm;

/**
 * The per-step, per-state emission log-densities {@code log N(y_t; W_k z_t, Σ_k)} of one sequence, for the steps
 * t = P..T-1 (the first P observations only condition), and the plausibilities l_t(k) of the same steps. Shared by
 * forward-backward and Viterbi so both score exactly the same thing.
 */
final class Emissions {
    /** [step - P][state]. */
    final double[][] logDensity;
    /** [step - P][state]; all ones when the sequence carries no partial knowledge. */
    final double[][] plausibility;

    Emissions(ArHmm model, double[][] y, double[][] plausibilities) {
        int n = y.length - model.order;
        logDensity = new double[n][model.states];
        plausibility = new double[n][];
        for (int i = 0; i < n; i++) {
            int t = i + model.order;
            double[] z = model.regressor(y, t);
            for (int k = 0; k < model.states; k++) {
                logDensity[i][k] = model.logDensity(k, y[t], z);
            }
            if (plausibilities == null) {
                plausibility[i] = new double[model.states];
                java.util.Arrays.fill(plausibility[i], 1.0);
            } else {
                plausibility[i] = plausibilities[t];
            }
        }
    }

    int steps() {
        return logDensity.length;
    }
}
