package dev.arbor.generation.distilled;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.testkit.ChiSquare;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The teacher flow map's honest tests (METHODS.md §3.17): the law of the flow-mapped tokens is p (chi-square on a
 * toy categorical over a random codebook, K = 8 codes in d = 4, 4000 draws of ε, fixed seeds), with a power check
 * (the same counts reject a wrong p), and the map is deterministic (same ε, same token).
 */
class FlowMapTest {
    private static final int K = 8;
    private static final int D = 4;
    private static final int DRAWS = 4000;
    private static final double ALPHA = 0.001;

    static float[][] randomCodebook(long seed, int k, int d) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[][] c = new float[k][d];
        for (float[] row : c) {
            for (int j = 0; j < d; j++) {
                row[j] = (float) rng.nextGaussian();
            }
        }
        return c;
    }

    /** A categorical with unequal masses (one small, one large) as logits, and its probabilities. */
    static double[] toyLaw(long seed, float[] logits) {
        SplittableRandom rng = new SplittableRandom(seed);
        double[] p = new double[logits.length];
        double sum = 0;
        for (int k = 0; k < logits.length; k++) {
            p[k] = 0.2 + rng.nextDouble() * (k == 0 ? 0.1 : 2.0);
            sum += p[k];
        }
        for (int k = 0; k < logits.length; k++) {
            p[k] /= sum;
            logits[k] = (float) Math.log(p[k]);
        }
        return p;
    }

    private static long[] counts(FlowMap map, float[] logits, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        long[] n = new long[logits.length];
        for (int i = 0; i < DRAWS; i++) {
            double[] eps = new double[map.dim()];
            for (int j = 0; j < eps.length; j++) {
                eps[j] = rng.nextGaussian();
            }
            n[map.map(logits, eps)]++;
        }
        return n;
    }

    @Test
    void flowMappedTokensFollowTheLawAndAWrongLawIsRejected() {
        FlowMap map = new FlowMap(randomCodebook(11, K, D));
        float[] logits = new float[K];
        double[] p = toyLaw(12, logits);
        long[] observed = counts(map, logits, 13);

        ChiSquare.Result right = ChiSquare.test(p, observed);
        assertThat(right.pValue()).as("chi-square of the flow-mapped tokens against p: %s", right)
                .isGreaterThan(ALPHA);

        // power: the same counts against p with its two largest masses swapped (a map that ignored p, or mixed up
        // the codes, would look like this)
        double[] wrong = p.clone();
        int a = 0;
        int b = 1;
        for (int k = 0; k < K; k++) {
            if (p[k] > p[a]) {
                a = k;
            }
        }
        b = a == 0 ? 1 : 0;
        for (int k = 0; k < K; k++) {
            if (k != a && p[k] < p[b]) {
                b = k;
            }
        }
        wrong[a] = p[b];
        wrong[b] = p[a];
        ChiSquare.Result rejected = ChiSquare.test(wrong, observed);
        assertThat(rejected.pValue()).as("the same counts against a wrong law: %s", rejected).isLessThan(ALPHA);
    }

    @Test
    void aLawConcentratedOnOneCodeAndCodesOfZeroProbability() {
        FlowMap map = new FlowMap(randomCodebook(21, K, D));
        float[] logits = new float[K];
        java.util.Arrays.fill(logits, Float.NEGATIVE_INFINITY);
        logits[5] = 0.3f;
        assertThat(map.map(logits, new double[] {3, -2, 0.5, 1})).isEqualTo(5);
        logits[2] = 0.3f;
        SplittableRandom rng = new SplittableRandom(22);
        for (int i = 0; i < 200; i++) {
            double[] eps = {rng.nextGaussian(), rng.nextGaussian(), rng.nextGaussian(), rng.nextGaussian()};
            assertThat(map.map(logits, eps)).isIn(2, 5);
        }
    }

    @Test
    void sameNoiseSameTokenAndTheMapDependsOnTheNoise() {
        FlowMap map = new FlowMap(randomCodebook(31, K, D));
        float[] logits = new float[K];
        toyLaw(32, logits);
        SplittableRandom rng = new SplittableRandom(33);
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int i = 0; i < 100; i++) {
            double[] eps = {rng.nextGaussian(), rng.nextGaussian(), rng.nextGaussian(), rng.nextGaussian()};
            int first = map.map(logits, eps);
            assertThat(map.map(logits, eps.clone())).isEqualTo(first);
            assertThat(new FlowMap(randomCodebook(31, K, D)).map(logits, eps)).isEqualTo(first);
            seen.add(first);
        }
        assertThat(seen.size()).as("distinct tokens over 100 noises").isGreaterThan(3);
    }

    @Test
    void refusesMismatchedInputs() {
        FlowMap map = new FlowMap(randomCodebook(41, K, D));
        assertThatThrownBy(() -> map.map(new float[K - 1], new double[D])).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("law has 7 entries");
        assertThatThrownBy(() -> map.map(new float[K], new double[D + 1]))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("noise has 5 components");
        float[] empty = new float[K];
        java.util.Arrays.fill(empty, Float.NEGATIVE_INFINITY);
        assertThatThrownBy(() -> map.map(empty, new double[D])).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("law is empty");
        assertThatThrownBy(() -> new FlowMap(new float[][] {{1, 2}, {3}})).isInstanceOf(
                IllegalArgumentException.class);
    }
}
