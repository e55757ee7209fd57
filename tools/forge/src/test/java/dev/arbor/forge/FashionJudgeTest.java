package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.arbor.api.ArborException;
import dev.arbor.models.images.FashionMnist;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The committed Fashion-MNIST judge (models/trained/fashion-judge) on the real test set: its accuracy, its
 * features, and the Fréchet distance on them. Needs the Debian package dataset-fashion-mnist (skipped without it).
 * All 10,000 test images take a few seconds on one core.
 */
class FashionJudgeTest {
    static final Path PARAMS = Path.of("..", "..", "models", "trained", "fashion-judge", "fashion-judge.params");

    static FashionJudge judge;
    static FashionMnist test;

    @BeforeAll
    static void load() {
        assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        judge = FashionJudge.load(PARAMS, 1);
        test = FashionMnist.load(FashionMnist.Split.TEST);
    }

    @AfterAll
    static void close() {
        if (judge != null) {
            judge.close();
        }
    }

    @Test
    void committedModelIsAtLeastNinetyPercentAccurateOnTheTestSet() {
        double accuracy = judge.accuracy(test.images(), test.labels());
        assertThat(accuracy).isGreaterThanOrEqualTo(0.90);
    }

    @Test
    void featuresAreOneHundredTwentyEightReluActivationsPerImage() {
        float[][] images = Arrays.copyOfRange(test.images(), 0, 7);
        float[][] f = judge.features(images);
        assertThat(f).hasNumberOfRows(7);
        for (float[] row : f) {
            assertThat(row).hasSize(FashionJudge.FEATURES);
            for (float v : row) {
                assertThat(v).isFinite().isGreaterThanOrEqualTo(0f);
            }
        }
        // Not all zero and not all alike: the layer carries information about the image.
        assertThat(f[0]).isNotEqualTo(f[1]);
        int[] predicted = judge.predict(images);
        assertThat(predicted).hasSize(7);
        for (int k : predicted) {
            assertThat(k).isBetween(0, FashionJudge.CLASSES - 1);
        }
    }

    @Test
    void frechetDistanceOfTestHalvesIsSmallAndOfDistortedImagesLarger() {
        float[][] images = test.images();
        float[][] first = Arrays.copyOfRange(images, 0, 5000);
        float[][] second = Arrays.copyOfRange(images, 5000, 10000);
        float[][] ff = judge.features(first);
        double floor = FrechetDistance.between(ff, judge.features(second));
        double distorted = FrechetDistance.between(ff, judge.features(distort(second, 7)));
        // The two halves are samples of one distribution: only sampling noise separates them (the committed model
        // measures 0.52, see its card). Shifted and noised images measure 177.
        assertThat(floor).isPositive().isLessThan(2.0);
        assertThat(distorted).isGreaterThan(50 * floor);
    }

    /** Shifts each image 3 pixels right and down (zero fill) and adds Gaussian pixel noise of sd 0.2, clipped. */
    static float[][] distort(float[][] images, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[][] out = new float[images.length][FashionMnist.PIXELS];
        for (int i = 0; i < images.length; i++) {
            for (int r = 3; r < 28; r++) {
                for (int c = 3; c < 28; c++) {
                    out[i][r * 28 + c] = images[i][(r - 3) * 28 + (c - 3)];
                }
            }
            for (int p = 0; p < FashionMnist.PIXELS; p++) {
                double noise = 0.2 * Math.sqrt(-2 * Math.log(1 - rng.nextDouble()))
                        * Math.cos(2 * Math.PI * rng.nextDouble());
                out[i][p] = (float) Math.min(1, Math.max(0, out[i][p] + noise));
            }
        }
        return out;
    }

    @Test
    void refusesImagesOfTheWrongSizeAndMissingWeights() {
        assertThatThrownBy(() -> judge.predict(new float[][] {new float[100]}))
                .isInstanceOf(ArborException.class).hasMessageContaining("784");
        assertThatThrownBy(() -> judge.accuracy(new float[2][784], new int[3]))
                .isInstanceOf(ArborException.class).hasMessageContaining("one label per image");
        assertThatThrownBy(() -> FashionJudge.load(Path.of("no-such-dir", "x.params"), 1))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.NOT_FOUND));
    }
}
