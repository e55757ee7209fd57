package dev.arbor.prognostics.arphmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.apache.commons.math3.distribution.MultivariateNormalDistribution;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * METHODS §3.19 test 1 (and Viterbi): on K = 2 states and 6 hidden steps (T = 7 observations, AR order 1, D = 2),
 * the scaled forward log-likelihood, the smoothed and filtered posteriors, the expected transition counts and
 * the Viterbi path equal what the
 * enumeration of all K^6 paths gives, with and without partial knowledge. The emission density is checked against
 * Commons Math's multivariate normal.
 */
class BruteForceTest {
    private static final int K = 2;
    private static final int P = 1;
    private static final int T = 7;

    /** Σ over all paths of π l N Π A l N, and per step the posterior mass of each state, and the best path. */
    private record Enumeration(double logLik, double[][] marginals, double[] lastFiltered, int[] best,
                               double[][] transitions) {
    }

    private static Enumeration enumerate(ArHmm model, double[][] y, double[][] l) {
        int n = T - P;
        double[][] dens = new double[n][K];
        for (int t = 0; t < n; t++) {
            double[] z = model.regressor(y, t + P);
            for (int s = 0; s < K; s++) {
                // independent of ArHmm.logDensity: Commons Math's density
                double[] mean = model.mean(s, z);
                dens[t][s] = new MultivariateNormalDistribution(mean, model.covariance(s)).density(y[t + P])
                        * (l == null ? 1 : l[t + P][s]);
            }
        }
        double total = 0;
        double[][] marg = new double[n][K];
        double[][] pairs = new double[K][K];
        double bestP = -1;
        int[] best = null;
        int paths = 1 << n;
        for (int code = 0; code < paths; code++) {
            int[] path = new int[n];
            for (int t = 0; t < n; t++) {
                path[t] = (code >> t) & 1;
            }
            double prob = model.initial[path[0]] * dens[0][path[0]];
            for (int t = 1; t < n; t++) {
                prob *= model.transitions[path[t - 1]][path[t]] * dens[t][path[t]];
            }
            total += prob;
            for (int t = 0; t < n; t++) {
                marg[t][path[t]] += prob;
                if (t > 0) {
                    pairs[path[t - 1]][path[t]] += prob;
                }
            }
            if (prob > bestP) {
                bestP = prob;
                best = path;
            }
        }
        for (double[] row : marg) {
            for (int s = 0; s < K; s++) {
                row[s] /= total;
            }
        }
        for (double[] row : pairs) {
            for (int s = 0; s < K; s++) {
                row[s] /= total;
            }
        }
        // filtered at the last step = smoothed at the last step
        return new Enumeration(Math.log(total), marg, marg[n - 1].clone(), best, pairs);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5})
    void forwardBackwardAndViterbiEqualTheEnumerationOfAllPaths(int seed) {
        SplittableRandom random = new SplittableRandom(seed);
        ArHmm model = Models.random(K, 2, P, random);
        double[][] y = Simulated.draw(model, T, random).y;
        for (double[][] l : new double[][][] {null, Models.plausibilities(T, K, random)}) {
            Enumeration e = enumerate(model, y, l);
            ForwardBackward fb = ForwardBackward.run(model, y, l);
            assertThat(fb.logLikelihood).isCloseTo(e.logLik, within(1e-10 * Math.abs(e.logLik) + 1e-12));
            for (int t = 0; t < T - P; t++) {
                for (int s = 0; s < K; s++) {
                    assertThat(fb.smoothed[t][s]).isCloseTo(e.marginals[t][s], within(1e-10));
                }
            }
            for (int s = 0; s < K; s++) {
                assertThat(fb.filtered[T - P - 1][s]).isCloseTo(e.lastFiltered[s], within(1e-10));
            }
            for (int j = 0; j < K; j++) {
                for (int s = 0; s < K; s++) {
                    // Σ_t ξ_t(j, s): the expected number of j → s transitions
                    assertThat(fb.transitions[j][s]).isCloseTo(e.transitions[j][s], within(1e-10));
                }
            }
            assertThat(Viterbi.path(model, new Emissions(model, y, l))).containsExactly(e.best);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {6, 7})
    void theEmissionDensityIsTheMultivariateNormal(int seed) {
        SplittableRandom random = new SplittableRandom(seed);
        ArHmm model = Models.random(3, 3, 2, random);
        double[][] y = Simulated.draw(model, 5, random).y;
        double[] z = model.regressor(y, 4);
        for (int s = 0; s < 3; s++) {
            double expected = new MultivariateNormalDistribution(model.mean(s, z), model.covariance(s)).density(y[4]);
            assertThat(model.logDensity(s, y[4], z)).isCloseTo(Math.log(expected), within(1e-10));
        }
    }
}
