package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;

/**
 * The scaled forward-backward recursions of the ARPHMM (METHODS §3.19, after Juesas, Ramasso et al., PHME 2016) with
 * partial knowledge: every emission density is weighted by the plausibility l_t(k) of the state at that step,
 * {@code α_t(k) ∝ l_t(k) N_k(y_t) Σ_j α_{t-1}(j) A_jk}, normalised by c_t each step; the log-likelihood (weighted,
 * when l is not all ones) is {@code Σ_t log c_t}. Emission densities are scaled by their per-step maximum before
 * exponentiation (the maximum is added back to log c_t), so long sequences and tight covariances do not underflow.
 *
 * <p>The weighting is the form the paper's abstract describes ("Theory of Weighted Distributions, compatible with
 * EM"): the plausibility multiplies the state's likelihood at that step, so l ≡ 1 is the plain ARHMM and a one-hot l
 * fixes the state. The exact form of the prior weights in the paper is [unverified]; this is that form.
 */
final class ForwardBackward {
    /** Filtered posteriors P(s_t | y_1..t) (with plausibilities), [step - P][state]. */
    final double[][] filtered;
    /** Smoothed posteriors γ_t(k) = P(s_t | y_1..T), [step - P][state]. */
    final double[][] smoothed;
    /** Σ_t ξ_t(j, k): the expected number of j → k transitions. */
    final double[][] transitions;
    final double logLikelihood;

    private ForwardBackward(double[][] filtered, double[][] smoothed, double[][] transitions, double logLikelihood) {
        this.filtered = filtered;
        this.smoothed = smoothed;
        this.transitions = transitions;
        this.logLikelihood = logLikelihood;
    }

    /** Runs both passes on one sequence (T &gt; P rows); {@code plausibilities} is T × K or null (all ones). */
    static ForwardBackward run(ArHmm model, double[][] y, double[][] plausibilities) {
        return run(model, new Emissions(model, y, plausibilities), true);
    }

    /** The forward pass only: filtered posteriors and the log-likelihood. */
    static ForwardBackward filter(ArHmm model, double[][] y, double[][] plausibilities) {
        return run(model, new Emissions(model, y, plausibilities), false);
    }

    static ForwardBackward run(ArHmm model, Emissions e, boolean backward) {
        int n = e.steps();
        int k = model.states;
        double[][] a = model.transitions;
        double[][] alpha = new double[n][k];
        double[][] b = new double[n][k]; // l_t(k) N_k(y_t) / exp(max_t)
        double[] c = new double[n];
        double logLik = 0;
        for (int t = 0; t < n; t++) {
            // scale by the largest weighted density among the states the plausibilities allow, so a state that
            // partial knowledge forces is never lost to underflow however unlikely its emission
            double[] v = new double[k];
            double max = Double.NEGATIVE_INFINITY;
            for (int s = 0; s < k; s++) {
                double l = e.plausibility[t][s];
                v[s] = l > 0 ? e.logDensity[t][s] + Math.log(l) : Double.NEGATIVE_INFINITY;
                max = Math.max(max, v[s]);
            }
            for (int s = 0; s < k; s++) {
                b[t][s] = Math.exp(v[s] - max);
            }
            double sum = 0;
            for (int s = 0; s < k; s++) {
                double prior;
                if (t == 0) {
                    prior = model.initial[s];
                } else {
                    prior = 0;
                    for (int j = 0; j < k; j++) {
                        prior += alpha[t - 1][j] * a[j][s];
                    }
                }
                alpha[t][s] = prior * b[t][s];
                sum += alpha[t][s];
            }
            if (!(sum > 0)) {
                throw ArborException.invalid("step " + (t + model.order) + " of the series has zero probability"
                        + " under the model: the plausibilities (or the model's structural zeros) rule out every"
                        + " state it can be in there; give a non-zero plausibility to a reachable state");
            }
            for (int s = 0; s < k; s++) {
                alpha[t][s] /= sum;
            }
            c[t] = sum;
            logLik += Math.log(sum) + max;
        }
        if (!backward) {
            return new ForwardBackward(alpha, null, null, logLik);
        }
        double[][] beta = new double[n][k];
        java.util.Arrays.fill(beta[n - 1], 1.0);
        double[][] xi = new double[k][k];
        double[][] gamma = new double[n][k];
        for (int t = n - 2; t >= 0; t--) {
            double[] next = new double[k];
            for (int s = 0; s < k; s++) {
                next[s] = b[t + 1][s] * beta[t + 1][s] / c[t + 1];
            }
            for (int j = 0; j < k; j++) {
                double s2 = 0;
                for (int s = 0; s < k; s++) {
                    double w = a[j][s] * next[s];
                    s2 += w;
                    xi[j][s] += alpha[t][j] * w;
                }
                beta[t][j] = s2;
            }
        }
        for (int t = 0; t < n; t++) {
            double sum = 0;
            for (int s = 0; s < k; s++) {
                gamma[t][s] = alpha[t][s] * beta[t][s];
                sum += gamma[t][s];
            }
            for (int s = 0; s < k; s++) {
                gamma[t][s] /= sum; // 1 up to rounding: removes the drift of long products
            }
        }
        return new ForwardBackward(alpha, gamma, xi, logLik);
    }
}
