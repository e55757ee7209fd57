package dev.arbor.prognostics.arphmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.commons.math3.distribution.MultivariateNormalDistribution;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** METHODS §3.19 tests 2 (EM monotone), 3 (special cases) and 4 (parameter recovery). */
class EmTrainerTest {

    private static List<double[][]> sequences(ArHmm model, int count, int length, SplittableRandom random) {
        List<double[][]> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(Simulated.draw(model, length, random).y);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------ test 2: monotone

    @ParameterizedTest
    @ValueSource(ints = {11, 12, 13})
    void exactEmNeverDecreasesTheLogLikelihood(int seed) {
        SplittableRandom random = new SplittableRandom(seed);
        ArHmm truth = Models.random(3, 2, 2, random);
        List<double[][]> data = sequences(truth, 3, 200, random);
        List<double[][]> partial = new ArrayList<>();
        for (double[][] y : data) {
            partial.add(Models.plausibilities(y.length, 3, random));
        }
        for (Topology topology : Topology.values()) {
            for (List<double[][]> l : Arrays.asList(null, partial)) {
                // λ = ε = 0: exact EM, whose (weighted) likelihood cannot decrease
                EmSettings settings = EmSettings.of(3, 2, topology).withRestarts(1).withIterations(40, 0)
                        .withRegularisation(0, 0).withSeed(seed);
                EmTrainer.Result r = EmTrainer.fit(data, l, settings);
                // tolerance 0: runs until an iteration gains nothing (converged to rounding) or 40 iterations;
                // the last entry, the one that stopped it, is checked too
                assertThat(r.trace().length).isGreaterThan(5);
                for (int i = 1; i < r.trace().length; i++) {
                    assertThat(r.trace()[i]).as("%s, partial %s, iteration %d", topology, l != null, i)
                            .isGreaterThanOrEqualTo(r.trace()[i - 1] - 1e-9 * Math.abs(r.trace()[i - 1]));
                }
                assertThat(r.trace()[r.trace().length - 1]).isGreaterThan(r.trace()[0]);
            }
        }
    }

    @Test
    void structuralZerosStayZero() {
        SplittableRandom random = new SplittableRandom(3);
        ArHmm truth = Models.random(3, 1, 1, random);
        EmTrainer.Result r = EmTrainer.fit(sequences(truth, 2, 300, random), null,
                EmSettings.of(4, 1, Topology.CHAIN).withRestarts(2).withIterations(30, 1e-8));
        double[][] a = r.model().transitions();
        for (int j = 0; j < 4; j++) {
            for (int k = 0; k < 4; k++) {
                if (!Topology.CHAIN.allows(j, k)) {
                    assertThat(a[j][k]).as("A[%d][%d]", j, k).isZero();
                }
            }
        }
        assertThat(a[3][3]).isEqualTo(1.0);
    }

    // ------------------------------------------------------------------------------------ test 3: special cases

    /** P = 0: the forward pass is that of a Gaussian HMM with means b_k, computed here independently. */
    @Test
    void orderZeroIsAGaussianHmm() {
        SplittableRandom random = new SplittableRandom(21);
        ArHmm model = Models.random(3, 2, 0, random);
        double[][] y = Simulated.draw(model, 40, random).y;
        double[] alpha = new double[3];
        double logLik = 0;
        for (int t = 0; t < y.length; t++) {
            double[] next = new double[3];
            double sum = 0;
            for (int k = 0; k < 3; k++) {
                double prior = 0;
                if (t == 0) {
                    prior = model.initial()[k];
                } else {
                    for (int j = 0; j < 3; j++) {
                        prior += alpha[j] * model.transitions()[j][k];
                    }
                }
                next[k] = prior * new MultivariateNormalDistribution(model.intercept(k), model.covariance(k))
                        .density(y[t]);
                sum += next[k];
            }
            for (int k = 0; k < 3; k++) {
                alpha[k] = next[k] / sum;
            }
            logLik += Math.log(sum);
        }
        ForwardBackward fb = ForwardBackward.run(model, y, null);
        assertThat(fb.logLikelihood).isCloseTo(logLik, within(1e-9 * Math.abs(logLik)));
        for (int k = 0; k < 3; k++) {
            assertThat(fb.filtered[y.length - 1][k]).isCloseTo(alpha[k], within(1e-10));
        }
    }

    /** l ≡ 1 is the plain ARHMM: the fit is identical, bit for bit, to the fit without plausibilities. */
    @Test
    void allOnePlausibilitiesAreThePlainArHmm() {
        SplittableRandom random = new SplittableRandom(22);
        ArHmm truth = Models.random(2, 1, 2, random);
        List<double[][]> data = sequences(truth, 2, 150, random);
        List<double[][]> ones = new ArrayList<>();
        for (double[][] y : data) {
            double[][] l = new double[y.length][2];
            for (double[] row : l) {
                Arrays.fill(row, 1);
            }
            ones.add(l);
        }
        EmSettings settings = EmSettings.of(2, 2, Topology.FULL).withRestarts(2).withIterations(20, 0);
        EmTrainer.Result plain = EmTrainer.fit(data, null, settings);
        EmTrainer.Result weighted = EmTrainer.fit(data, ones, settings);
        assertThat(weighted.trace()).containsExactly(plain.trace());
        assertThat(weighted.model().transitions()).isDeepEqualTo(plain.model().transitions());
        assertThat(weighted.model().regression(1)).isDeepEqualTo(plain.model().regression(1));
    }

    /**
     * One-hot l: the E-step's posteriors are the labels whatever the current parameters, so one EM iteration gives
     * the supervised closed form: π and A from label counts, W_k = (Σ y zᵀ)(Σ z zᵀ + λI)^{-1} over the steps
     * labelled k and Σ_k their residual covariance + εI (computed here with Commons Math).
     */
    @Test
    void oneHotPlausibilitiesGiveTheSupervisedClosedFormInOneIteration() {
        SplittableRandom random = new SplittableRandom(23);
        int k = 3;
        int d = 2;
        int p = 2;
        ArHmm truth = Models.random(k, d, p, random);
        List<double[][]> data = new ArrayList<>();
        List<double[][]> labels = new ArrayList<>();
        List<int[]> states = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            Simulated s = Simulated.draw(truth, 120, random);
            data.add(s.y);
            labels.add(s.oneHot(k, p));
            states.add(s.states);
        }
        ArHmm start = Models.random(k, d, p, new SplittableRandom(99)); // unrelated parameters
        double lambda = 1e-3;
        double epsilon = 1e-4;
        EmSettings settings = EmSettings.of(k, p, Topology.FULL).withRegularisation(lambda, epsilon);
        ArHmm next = EmTrainer.step(start, data, labels, settings).next();

        double[] pi = new double[k];
        double[][] counts = new double[k][k];
        for (int[] z : states) {
            pi[z[0]] += 1.0 / states.size();
            for (int t = 1; t < z.length; t++) {
                counts[z[t - 1]][z[t]]++;
            }
        }
        for (int s = 0; s < k; s++) {
            assertThat(next.initial()[s]).isCloseTo(pi[s], within(1e-12));
            double row = Arrays.stream(counts[s]).sum();
            for (int j = 0; j < k; j++) {
                assertThat(next.transitions()[s][j]).isCloseTo(counts[s][j] / row, within(1e-12));
            }
        }
        int cols = d * p + 1;
        for (int s = 0; s < k; s++) {
            RealMatrix zz = MatrixUtils.createRealMatrix(cols, cols);
            RealMatrix yz = MatrixUtils.createRealMatrix(d, cols);
            List<double[]> zs = new ArrayList<>();
            List<double[]> ys = new ArrayList<>();
            for (int i = 0; i < data.size(); i++) {
                for (int t = p; t < data.get(i).length; t++) {
                    if (states.get(i)[t - p] != s) {
                        continue;
                    }
                    double[] z = new double[cols];
                    for (int lag = 1; lag <= p; lag++) {
                        System.arraycopy(data.get(i)[t - lag], 0, z, (lag - 1) * d, d);
                    }
                    z[cols - 1] = 1;
                    RealMatrix zc = MatrixUtils.createColumnRealMatrix(z);
                    RealMatrix yc = MatrixUtils.createColumnRealMatrix(data.get(i)[t]);
                    zz = zz.add(zc.multiply(zc.transpose()));
                    yz = yz.add(yc.multiply(zc.transpose()));
                    zs.add(z);
                    ys.add(data.get(i)[t]);
                }
            }
            RealMatrix w = yz.multiply(new LUDecomposition(zz.add(MatrixUtils.createRealIdentityMatrix(cols)
                    .scalarMultiply(lambda))).getSolver().getInverse());
            RealMatrix cov = MatrixUtils.createRealMatrix(d, d);
            for (int i = 0; i < zs.size(); i++) {
                RealMatrix r = MatrixUtils.createColumnRealMatrix(ys.get(i))
                        .subtract(w.multiply(MatrixUtils.createColumnRealMatrix(zs.get(i))));
                cov = cov.add(r.multiply(r.transpose()));
            }
            cov = cov.scalarMultiply(1.0 / zs.size()).add(MatrixUtils.createRealIdentityMatrix(d)
                    .scalarMultiply(epsilon));
            for (int r = 0; r < d; r++) {
                for (int c = 0; c < cols; c++) {
                    assertThat(next.regression(s)[r][c]).isCloseTo(w.getEntry(r, c), within(1e-8));
                }
                for (int c = 0; c < d; c++) {
                    assertThat(next.covariance(s)[r][c]).isCloseTo(cov.getEntry(r, c), within(1e-10));
                }
            }
        }
    }

    // ----------------------------------------------------------------------------- test 4: parameter recovery

    /**
     * K = 3, P = 2, five sequences of T = 5,000 drawn from a known ARHMM: EM from k-means++ restarts recovers Φ, b,
     * σ and A within tolerance after matching the learnt states to the true ones (by their intercepts).
     */
    @Test
    void emRecoversTheParametersOfAKnownArHmm() {
        double[][][] w = {
                {{0.6, -0.2, 1.0}},
                {{0.3, 0.1, -1.5}},
                {{-0.4, 0.2, 3.0}}};
        double[][][] sigma = {{{0.09}}, {{0.25}}, {{0.04}}};
        double[][] a = {{0.95, 0.03, 0.02}, {0.02, 0.96, 0.02}, {0.04, 0.01, 0.95}};
        ArHmm truth = new ArHmm(1, 2, Topology.FULL, 2, new double[] {0.5, 0.3, 0.2}, a, w, sigma);
        SplittableRandom random = new SplittableRandom(2024);
        List<double[][]> data = sequences(truth, 5, 5_000, random);
        long start = System.nanoTime();
        EmTrainer.Result r = EmTrainer.fit(data, null, EmSettings.of(3, 2, Topology.FULL).withRestarts(3)
                .withSeed(1));
        System.out.printf("ARPHMM recovery fit (K=3, P=2, 5 x 5000 steps, 3 restarts): %d ms, %d iterations%n",
                (System.nanoTime() - start) / 1_000_000, r.iterations());
        int[] match = matchByIntercept(r.model(), truth);
        for (int s = 0; s < 3; s++) {
            int m = match[s];
            assertThat(r.model().ar(m, 1)[0][0]).as("phi_1 of state %d", s).isCloseTo(w[s][0][0], within(0.05));
            assertThat(r.model().ar(m, 2)[0][0]).as("phi_2 of state %d", s).isCloseTo(w[s][0][1], within(0.05));
            assertThat(r.model().intercept(m)[0]).as("b of state %d", s).isCloseTo(w[s][0][2], within(0.1));
            assertThat(r.model().covariance(m)[0][0]).as("sigma^2 of state %d", s)
                    .isCloseTo(sigma[s][0][0], within(0.1 * sigma[s][0][0]));
            for (int j = 0; j < 3; j++) {
                assertThat(r.model().transitions()[m][match[j]]).as("A[%d][%d]", s, j)
                        .isCloseTo(a[s][j], within(0.01));
            }
        }
    }

    /** For each true state the learnt state with the closest intercept (a permutation; checked). */
    private static int[] matchByIntercept(ArHmm learnt, ArHmm truth) {
        int k = truth.states();
        int[] match = new int[k];
        List<Integer> used = new ArrayList<>();
        for (int s = 0; s < k; s++) {
            int best = -1;
            for (int m = 0; m < k; m++) {
                if (!used.contains(m) && (best < 0 || Math.abs(learnt.intercept(m)[0] - truth.intercept(s)[0])
                        < Math.abs(learnt.intercept(best)[0] - truth.intercept(s)[0]))) {
                    best = m;
                }
            }
            match[s] = best;
            used.add(best);
        }
        Collections.sort(used);
        assertThat(used).containsExactly(0, 1, 2);
        return match;
    }
}
