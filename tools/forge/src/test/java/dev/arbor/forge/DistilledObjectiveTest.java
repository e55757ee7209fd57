package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.image.ImageLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Distilled Decoding's training batches (no network needed): the first step scores every token on pure-noise
 * inputs, a second step keeps the teacher's codes before the split (scored nowhere there) and adds the step token,
 * the noise rows are the pair's noise on the feature-basis ids, and the pair file round-trips.
 */
class DistilledObjectiveTest {
    static final ImageLayout LAYOUT = ImagePriors.layout(512, new int[] {7}, 16);
    static final int N = 49;

    static DistilledData pairs(int count) {
        SplittableRandom rng = new SplittableRandom(3);
        int[] classes = new int[count];
        int[][] tokens = new int[count][N];
        float[][] noise = new float[count][];
        for (int i = 0; i < count; i++) {
            classes[i] = i % 10;
            for (int p = 0; p < N; p++) {
                tokens[i][p] = rng.nextInt(512);
            }
            noise[i] = DistilledDecoding.noise(9, i, N * 16);
        }
        return new DistilledData(LAYOUT, classes, tokens, noise);
    }

    @Test
    void firstAndSecondStepsScoreAndFeedWhatTheyMust() {
        DistilledData data = pairs(4);
        int v = LAYOUT.vocabSize();
        for (int split : new int[] {0, 24}) {
            DistilledObjective o = DistilledObjective.fixed(LAYOUT, data, split);
            int[][] windows = {data.window(2, N + 2)};
            TrainingObjective.Batch b = o.batch(windows, new SplittableRandom(1));
            assertThat(b.scored()).isEqualTo(N + 1);
            assertThat(b.normalizer()).isEqualTo(N - split);
            assertThat(b.weights()[0][0]).isZero();
            float[] w = o.inputWeights(b.tokens(), v);
            assertThat(w[LAYOUT.classToken(2)]).isEqualTo(1f);
            assertThat(w[LAYOUT.levelToken(0)]).isEqualTo(split > 0 ? 1f : 0f);
            for (int i = 0; i < N; i++) {
                int row = (1 + i) * v;
                assertThat(b.weights()[0][1 + i]).isEqualTo(i < split ? 0f : 1f);
                assertThat(b.targets()[0][1 + i]).isEqualTo(i < split ? 0 : data.tokens(2)[i]);
                if (i < split) {
                    assertThat(w[row + data.tokens(2)[i]]).isEqualTo(1f);
                    assertThat(w[row + LAYOUT.featureBasisToken(0)]).isZero();
                } else {
                    for (int j = 0; j < 16; j++) {
                        assertThat(w[row + LAYOUT.featureBasisToken(j)]).isEqualTo(data.noise(2, i, j));
                    }
                }
            }
        }
    }

    @Test
    void trainingMixesStepsAndThePairsRoundTrip() throws Exception {
        DistilledData data = pairs(64);
        DistilledObjective o = DistilledObjective.training(LAYOUT, data, 0.5);
        TrainingObjective.Batch b = o.batch(data.randomWindows(64, N + 2, new SplittableRandom(2)),
                new SplittableRandom(5));
        int firstSteps = 0;
        double scored = 0;
        for (int r = 0; r < 64; r++) {
            int split = b.tokens()[r][N + 2];
            assertThat(split).isBetween(0, N - 1);
            firstSteps += split == 0 ? 1 : 0;
            scored += N - split;
        }
        assertThat(firstSteps).isBetween(16, 48);
        assertThat(b.normalizer()).isEqualTo(scored);
        java.nio.file.Path f = java.nio.file.Files.createTempFile("pairs", ".bin");
        try {
            data.write(f);
            DistilledData back = DistilledData.read(f, LAYOUT);
            assertThat(back.size()).isEqualTo(64);
            assertThat(back.tokens(5)).containsExactly(data.tokens(5));
            assertThat(back.noise(5, 48, 15)).isEqualTo(data.noise(5, 48, 15));
            assertThat(back.classOf(13)).isEqualTo(3);
        } finally {
            java.nio.file.Files.deleteIfExists(f);
        }
    }
}
