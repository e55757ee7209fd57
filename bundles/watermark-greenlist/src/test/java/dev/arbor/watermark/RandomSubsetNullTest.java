package dev.arbor.watermark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.commons.math3.distribution.BinomialDistribution;
import org.apache.commons.math3.distribution.HypergeometricDistribution;
import org.junit.jupiter.api.Test;

class RandomSubsetNullTest {

    @Test
    void distinctIdsOfOneListFollowTheHypergeometricTail() {
        long[] ones = new long[40];
        Arrays.fill(ones, 1);
        HypergeometricDistribution h = new HypergeometricDistribution(null, 512, 128, 40);
        for (int k = 0; k <= 40; k++) {
            double expected = k == 0 ? 1 : h.upperCumulativeProbability(k);
            assertThat(RandomSubsetNull.upperTail(List.of(ones), 512, 128, k)).as("k = %d", k)
                    .isCloseTo(expected, within(1e-12 + 1e-9 * expected));
        }
    }

    @Test
    void singleTestsOfIndependentListsFollowTheBinomialTail() {
        List<long[]> groups = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            groups.add(new long[] {1});
        }
        BinomialDistribution b = new BinomialDistribution(null, 60, 128.0 / 512);
        for (int k = 1; k <= 60; k++) {
            double expected = 1 - b.cumulativeProbability(k - 1);
            assertThat(RandomSubsetNull.upperTail(groups, 512, 128, k)).as("k = %d", k)
                    .isCloseTo(expected, within(1e-12 + 1e-9 * expected));
        }
    }

    @Test
    void repeatedIdsMatchBruteForceEnumeration() {
        // universe of 9 ids, lists of 3; the text's ids carry weights 4, 1, 2 (one id seen four times)
        long[] weights = {4, 1, 2};
        int universe = 9;
        int size = 3;
        int[] hits = new int[8];
        int subsets = 0;
        for (int mask = 0; mask < 1 << universe; mask++) {
            if (Integer.bitCount(mask) != size) {
                continue;
            }
            subsets++;
            int sum = 0;
            for (int i = 0; i < weights.length; i++) {
                sum += (mask >> i & 1) == 1 ? weights[i] : 0;
            }
            hits[sum]++;
        }
        for (int k = 0; k <= 7; k++) {
            int atLeast = 0;
            for (int s = k; s <= 7; s++) {
                atLeast += hits[s];
            }
            assertThat(RandomSubsetNull.upperTail(List.of(weights), universe, size, k)).as("k = %d", k)
                    .isCloseTo((double) atLeast / subsets, within(1e-12));
        }
    }

    @Test
    void twoListsConvolve() {
        // two independent lists: {weights 2} in list A and {1, 1} in list B; universe 4, lists of 2
        // A: sum 2 w.p. 1/2, else 0. B: hypergeometric(4, 2, 2): 0 w.p. 1/6, 1 w.p. 4/6, 2 w.p. 1/6
        List<long[]> groups = List.of(new long[] {2}, new long[] {1, 1});
        assertThat(RandomSubsetNull.upperTail(groups, 4, 2, 4)).isCloseTo(0.5 / 6, within(1e-12));
        assertThat(RandomSubsetNull.upperTail(groups, 4, 2, 3)).isCloseTo(0.5 * 5 / 6, within(1e-12));
        assertThat(RandomSubsetNull.upperTail(groups, 4, 2, 5)).isZero();
    }

    @Test
    void theChernoffBoundForLongTextsIsNeverBelowTheExactTail() {
        long[] weights = new long[150];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = 1 + (i % 7 == 0 ? 12 : i % 3);
        }
        List<long[]> groups = List.<long[]>of(weights);
        long total = Arrays.stream(weights).sum();
        for (long k = total / 4; k <= total / 2; k += 10) {
            double exact = RandomSubsetNull.upperTail(groups, 512, 128, k);
            double bound = RandomSubsetNull.chernoff(groups, 512, 128, k);
            assertThat(bound).as("k = %d", k).isGreaterThanOrEqualTo(exact);
        }
        // past the budget the bound is what is returned, and it still shrinks with the count
        long[] many = new long[400];
        for (int i = 0; i < many.length; i++) {
            many[i] = 1 + i % 50;
        }
        long mean = Arrays.stream(many).sum() / 4;
        double near = RandomSubsetNull.upperTail(List.of(many), 512, 128, mean + 100);
        double far = RandomSubsetNull.upperTail(List.of(many), 512, 128, mean + 600);
        assertThat(near).isLessThan(1).isGreaterThan(far);
        assertThat(far).isGreaterThan(0).isLessThan(0.01); // normal tail ~1e-4 (3.7 sd): the bound is conservative
    }

    @Test
    void severalCountsOfOneTextShareOneDistribution() {
        long[] weights = {5, 3, 3, 1, 1, 1, 2, 7};
        long[] observed = {0, 3, 6, 9, 12, 23, 24};
        double[] tails = RandomSubsetNull.upperTails(List.<long[]>of(weights), 64, 16, observed);
        for (int i = 0; i < observed.length; i++) {
            assertThat(tails[i]).as("observed %d", observed[i])
                    .isCloseTo(RandomSubsetNull.upperTail(List.<long[]>of(weights), 64, 16, observed[i]), within(1e-14));
        }
        assertThat(tails[0]).isEqualTo(1);
        assertThat(tails[6]).isZero(); // more than the 23 the text holds
    }
}
