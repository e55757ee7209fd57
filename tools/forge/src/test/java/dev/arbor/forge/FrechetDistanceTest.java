package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.ArborException;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** FrechetDistance against closed forms. */
class FrechetDistanceTest {

    private static float[][] gaussian(int n, double[] mean, double[] sd, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[][] x = new float[n][mean.length];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < mean.length; j++) {
                x[i][j] = (float) (mean[j] + sd[j] * gauss(rng));
            }
        }
        return x;
    }

    private static double gauss(SplittableRandom rng) { // Box-Muller
        return Math.sqrt(-2 * Math.log(1 - rng.nextDouble())) * Math.cos(2 * Math.PI * rng.nextDouble());
    }

    private static double[][] diag(double... v) {
        double[][] m = new double[v.length][v.length];
        for (int i = 0; i < v.length; i++) {
            m[i][i] = v[i];
        }
        return m;
    }

    @Test
    void identicalSetsAreAtDistanceZero() {
        float[][] x = gaussian(500, new double[] {1, -2, 0.5, 3, 0}, new double[] {1, 0.3, 2, 0.1, 5}, 1);
        assertThat(FrechetDistance.between(x, x.clone())).isCloseTo(0, within(1e-9));
    }

    @Test
    void diagonalGaussiansGiveTheAnalyticValue() {
        // Commuting covariances: FD = ||mu1 - mu2||² + Σ (σ1 - σ2)².
        double[] mu1 = {0, 1, 2};
        double[] mu2 = {1, 1, -1};
        double[] sd1 = {1, 2, 0.5};
        double[] sd2 = {3, 2, 1.5};
        double expected = 1 + 0 + 9 + 4 + 0 + 1;
        double exact = FrechetDistance.between(
                new FrechetDistance.Stats(mu1, diag(1, 4, 0.25)), new FrechetDistance.Stats(mu2, diag(9, 4, 2.25)));
        assertThat(exact).isCloseTo(expected, within(1e-10));

        // From samples: the fitted moments converge, so does the distance (tolerance from the sampling error of
        // 200,000 draws, a few thousandths per moment).
        double sampled = FrechetDistance.between(gaussian(200_000, mu1, sd1, 2), gaussian(200_000, mu2, sd2, 3));
        assertThat(sampled).isCloseTo(expected, within(0.1));
    }

    @Test
    void nonCommutingCovariancesMatchTheTwoByTwoClosedForm() {
        // For 2x2, Tr((S1 S2)^1/2) = sqrt(tr(S1 S2) + 2 sqrt(det(S1 S2))): S1 S2 has the eigenvalues of the
        // PSD matrix √S1 S2 √S1, and (√l1 + √l2)² = l1 + l2 + 2 √(l1 l2).
        double[][] s1 = {{2, 0.8}, {0.8, 1}};
        double[][] s2 = {{0.5, -0.3}, {-0.3, 3}};
        double[][] p = {{s1[0][0] * s2[0][0] + s1[0][1] * s2[1][0], s1[0][0] * s2[0][1] + s1[0][1] * s2[1][1]},
                {s1[1][0] * s2[0][0] + s1[1][1] * s2[1][0], s1[1][0] * s2[0][1] + s1[1][1] * s2[1][1]}};
        double trP = p[0][0] + p[1][1];
        double detP = p[0][0] * p[1][1] - p[0][1] * p[1][0];
        double expected = (0.5 * 0.5 + 2 * 2) + (2 + 1) + (0.5 + 3) - 2 * Math.sqrt(trP + 2 * Math.sqrt(detP));
        double fd = FrechetDistance.between(new FrechetDistance.Stats(new double[] {0, 0}, s1),
                new FrechetDistance.Stats(new double[] {0.5, 2}, s2));
        assertThat(fd).isCloseTo(expected, within(1e-10));
        double reversed = FrechetDistance.between(new FrechetDistance.Stats(new double[] {0.5, 2}, s2),
                new FrechetDistance.Stats(new double[] {0, 0}, s1));
        assertThat(reversed).isCloseTo(expected, within(1e-10));
    }

    @Test
    void aShiftedCopyIsAtTheSquaredShift() {
        // Same covariance, means apart by c in each of d dimensions: FD = d c².
        float[][] x = gaussian(1000, new double[] {0, 0, 0, 0}, new double[] {1, 2, 3, 4}, 4);
        float[][] y = new float[x.length][4];
        for (int i = 0; i < x.length; i++) {
            for (int j = 0; j < 4; j++) {
                y[i][j] = x[i][j] + 0.5f;
            }
        }
        assertThat(FrechetDistance.between(x, y)).isCloseTo(4 * 0.25, within(1e-4));
    }

    @Test
    void degenerateCovariancesStayFinite() {
        // Rank-deficient covariances (a constant feature, as dead ReLU units give) have zero eigenvalues.
        float[][] x = gaussian(300, new double[] {0, 5}, new double[] {1, 0}, 5);
        float[][] y = gaussian(300, new double[] {0, 5}, new double[] {2, 0}, 6);
        double fd = FrechetDistance.between(x, y);
        assertThat(fd).isFinite().isCloseTo(1.0, within(0.3)); // (1 - 2)² from the first feature
    }

    @Test
    void refusesTooFewVectorsAndMismatchedDimensions() {
        assertThatThrownBy(() -> FrechetDistance.between(new float[1][3], new float[5][3]))
                .isInstanceOf(ArborException.class).hasMessageContaining("at least 2");
        assertThatThrownBy(() -> FrechetDistance.between(new float[4][3], new float[5][2]))
                .isInstanceOf(ArborException.class).hasMessageContaining("one dimension");
    }
}
