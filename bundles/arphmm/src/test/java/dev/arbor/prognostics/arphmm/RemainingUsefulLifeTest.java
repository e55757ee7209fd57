package dev.arbor.prognostics.arphmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.Cancellation;
import java.util.SplittableRandom;
import org.apache.commons.math3.distribution.NormalDistribution;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;

/** METHODS §3.19 test 5 (absorption time), Monte-Carlo agreement, and forecast moments against the AR(1) law. */
class RemainingUsefulLifeTest {
    private static final double[] SOJOURN = {10, 5, 20};

    /** A chain 0 → 1 → 2 → 3 (failure, absorbing) whose state j lasts SOJOURN[j] steps on average (geometric). */
    private static ArHmm chain() {
        double[][] a = new double[4][4];
        for (int j = 0; j < 3; j++) {
            a[j][j] = 1 - 1 / SOJOURN[j];
            a[j][j + 1] = 1 / SOJOURN[j];
        }
        a[3][3] = 1;
        double[][][] w = new double[4][1][1];
        double[][][] sigma = new double[4][][];
        for (int s = 0; s < 4; s++) {
            w[s][0][0] = s;
            sigma[s] = new double[][] {{1}};
        }
        return new ArHmm(1, 0, Topology.CHAIN, 3, new double[] {1, 0, 0, 0}, a, w, sigma);
    }

    @Test
    void theExpectedRulOfAChainIsTheSumOfTheRemainingSojournTimes() {
        ArHmm model = chain();
        assertThat(RemainingUsefulLife.expected(model, new double[] {1, 0, 0, 0})).isCloseTo(35, within(1e-9));
        assertThat(RemainingUsefulLife.expected(model, new double[] {0, 1, 0, 0})).isCloseTo(25, within(1e-9));
        assertThat(RemainingUsefulLife.expected(model, new double[] {0, 0, 0, 1})).isZero();
        assertThat(RemainingUsefulLife.expected(model, new double[] {0.5, 0.25, 0.25, 0}))
                .isCloseTo(0.5 * 35 + 0.25 * 25 + 0.25 * 20, within(1e-9));
    }

    @Test
    void monteCarloAgreesWithTheAnalyticAbsorptionTime() {
        ArHmm model = chain();
        double[] posterior = {0.5, 0.5, 0, 0};
        int n = 40_000;
        double[] times = RemainingUsefulLife.simulate(model, posterior, n, 100_000, 7, Cancellation.NEVER);
        double mean = java.util.Arrays.stream(times).average().orElseThrow();
        // Var of a sum of independent geometrics: Σ d(d-1); a mixture over the start adds the means' spread
        double var = 0.5 * (90 + 20 + 380) + 0.5 * (20 + 380) + 0.25 * (35 - 25) * (35 - 25);
        double expected = RemainingUsefulLife.expected(model, posterior);
        assertThat(mean).isCloseTo(expected, within(4 * Math.sqrt(var / n)));
        assertThat(times).isSorted();
    }

    /** On a random full model, γᵀ(I − Q)^{-1}1 equals the fundamental matrix computed by Commons Math. */
    @Test
    void theAbsorptionTimeIsTheFundamentalMatrixRowSum() {
        ArHmm model = Models.random(4, 1, 1, new SplittableRandom(5));
        RealMatrix q = MatrixUtils.createRealMatrix(3, 3);
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                q.setEntry(i, j, model.transitions()[i][j]); // failure = state 3
            }
        }
        RealMatrix n = new LUDecomposition(MatrixUtils.createRealIdentityMatrix(3).subtract(q)).getSolver()
                .getInverse();
        double[] posterior = {0.2, 0.3, 0.4, 0.1};
        double expected = 0;
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                expected += posterior[i] * n.getEntry(i, j);
            }
        }
        assertThat(RemainingUsefulLife.expected(model, posterior)).isCloseTo(expected, within(1e-9));
        double[] times = RemainingUsefulLife.simulate(model, posterior, 20_000, 100_000, 3, Cancellation.NEVER);
        assertThat(java.util.Arrays.stream(times).average().orElseThrow()).isCloseTo(expected,
                within(0.05 * expected));
    }

    @Test
    void aFailureStateThatCannotBeReachedGivesAnInfiniteRulAndCensoredPaths() {
        double[][] a = {{1, 0}, {0, 1}};
        ArHmm model = new ArHmm(1, 0, Topology.FULL, 1, new double[] {1, 0}, a,
                new double[][][] {{{0}}, {{1}}}, new double[][][] {{{1}}, {{1}}});
        assertThat(RemainingUsefulLife.expected(model, new double[] {1, 0})).isInfinite();
        assertThat(RemainingUsefulLife.simulate(model, new double[] {1, 0}, 10, 50, 1, Cancellation.NEVER))
                .containsOnly(Double.POSITIVE_INFINITY);
    }

    @Test
    void theSimulationStopsWhenTheRequestIsCancelled() {
        assertThatThrownBy(() -> RemainingUsefulLife.simulate(chain(), new double[] {1, 0, 0, 0}, 1000, 1000, 1,
                () -> true)).isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.CANCELLED));
    }

    /**
     * One state, AR(1): y_{T+h} given y_T is normal with mean φ^h y_T + b(1 − φ^h)/(1 − φ) and variance
     * σ²(1 − φ^{2h})/(1 − φ²); the simulated forecast's mean and 5 %/50 %/95 % quantiles agree with it.
     */
    @Test
    void forecastMomentsMatchTheAnalyticArMoments() {
        double phi = 0.8;
        double b = 0.5;
        double s2 = 0.09;
        ArHmm model = new ArHmm(1, 1, Topology.FULL, 0, new double[] {1}, new double[][] {{1}},
                new double[][][] {{{phi, b}}}, new double[][][] {{{s2}}});
        double[][] history = {{0.0}, {2.0}};
        int n = 20_000;
        Forecaster f = Forecaster.simulate(model, history, new double[] {1}, 20, n, 11, Cancellation.NEVER);
        for (int h : new int[] {1, 5, 20}) {
            double ph = Math.pow(phi, h);
            double mean = ph * 2.0 + b * (1 - ph) / (1 - phi);
            double sd = Math.sqrt(s2 * (1 - ph * ph) / (1 - phi * phi));
            NormalDistribution law = new NormalDistribution(mean, sd);
            assertThat(f.mean[h - 1][0]).as("mean at h=%d", h).isCloseTo(mean, within(4 * sd / Math.sqrt(n)));
            assertThat(f.lower[h - 1][0]).as("5%% at h=%d", h)
                    .isCloseTo(law.inverseCumulativeProbability(0.05), within(0.06 * sd));
            assertThat(f.median[h - 1][0]).isCloseTo(mean, within(0.05 * sd));
            assertThat(f.upper[h - 1][0]).as("95%% at h=%d", h)
                    .isCloseTo(law.inverseCumulativeProbability(0.95), within(0.06 * sd));
        }
        // same seed, same forecast
        Forecaster again = Forecaster.simulate(model, history, new double[] {1}, 20, n, 11, Cancellation.NEVER);
        assertThat(again.mean).isDeepEqualTo(f.mean);
    }

    @Test
    void theForecastsFailureProbabilityFollowsTheChain() {
        ArHmm model = chain();
        Forecaster f = Forecaster.simulate(model, new double[][] {{0}}, new double[] {0, 0, 1, 0}, 30, 20_000, 2,
                Cancellation.NEVER);
        // from state 2 the failure state is entered within h steps with probability 1 − (1 − 1/20)^h
        for (int h : new int[] {1, 10, 30}) {
            double expected = 1 - Math.pow(1 - 1 / SOJOURN[2], h);
            assertThat(f.failureProbability[h - 1]).isCloseTo(expected,
                    within(4 * Math.sqrt(expected * (1 - expected) / 20_000) + 1e-9));
        }
    }
}
