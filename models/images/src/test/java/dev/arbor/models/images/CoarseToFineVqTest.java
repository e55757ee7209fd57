package dev.arbor.models.images;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.Png;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The coarse-to-fine tokenizer trained small (P = 16 components, N = 9 stages, K = 16) on 3,000 training images and
 * measured on 500 test images: PCA, the prefix property, file round trip and refusals, the image-1d tokenizer.
 */
class CoarseToFineVqTest {
    static float[][] train;
    static float[][] test;
    static CoarseToFineVq vq;

    @BeforeAll
    static void trainSmall() {
        train = Arrays.copyOf(FashionMnist.load(FashionMnist.Split.TRAIN).images(), 3_000);
        test = Arrays.copyOf(FashionMnist.load(FashionMnist.Split.TEST).images(), 500);
        vq = CoarseToFineVq.train(train, 16, 9, 16, 2_000, 6, 7);
    }

    @Test
    void pcaFindsTheSubspaceOfLowRankData() {
        // images = mean + a·u + b·w with u ⟂ w: two components reconstruct them exactly, in variance order
        SplittableRandom rnd = new SplittableRandom(5);
        float[] u = new float[FashionMnist.PIXELS];
        float[] w = new float[FashionMnist.PIXELS];
        for (int i = 0; i < u.length; i++) {
            u[i] = i < 392 ? 1 : 0;
            w[i] = i % 2 == 0 ? 1 : -1;
        }
        float[][] data = new float[300][FashionMnist.PIXELS];
        for (float[] x : data) {
            double a = 3 * rnd.nextGaussian();
            double b = rnd.nextGaussian();
            for (int i = 0; i < x.length; i++) x[i] = (float) (0.5 + 0.01 * (a * u[i] + b * w[i]));
        }
        PcaBasis basis = PcaBasis.fit(data, 2, 30, 1);
        assertThat(basis.variances()[0]).isGreaterThan(basis.variances()[1]);
        for (float[] x : Arrays.copyOf(data, 20)) {
            float[] y = basis.reconstruct(basis.project(x));
            for (int i = 0; i < x.length; i++) assertThat(y[i]).isCloseTo(x[i], org.assertj.core.data.Offset.offset(1e-4f));
        }
        // the first component is (up to sign and the samples' a-b correlation) u normalised: u carries 4.5x the variance
        float[] c0 = basis.component(0);
        double cos = 0;
        for (int i = 0; i < c0.length; i++) cos += c0[i] * u[i];
        assertThat(Math.abs(cos) / Math.sqrt(392)).isGreaterThan(0.99);
    }

    @Test
    void everyFurtherTokenAddsDetailOnHeldOutImages() {
        double previous = Double.POSITIVE_INFINITY;
        for (int n = 0; n <= vq.stages(); n++) {
            int nn = n;
            double mse = ReconstructionQuality.mse(test, x -> vq.decode(Arrays.copyOf(vq.encode(x), nn)));
            assertThat(mse).as("MSE after %d tokens", n).isLessThan(previous);
            previous = mse;
        }
        // the whole sequence comes close to what the basis can hold
        double bound = ReconstructionQuality.mse(test, x -> clamp(vq.basis().reconstruct(vq.basis().project(x))));
        assertThat(previous).isLessThan(1.6 * bound);
    }

    @Test
    void theEmptyPrefixIsTheMeanImage() {
        float[] mean = vq.basis().mean();
        assertThat(vq.decode(new int[0])).containsExactly(clamp(mean));
    }

    @Test
    void fileRoundTripIsExactAndCorruptionIsRefused(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("c2f.bin");
        vq.write(file);
        CoarseToFineVq back = CoarseToFineVq.read(file);
        assertThat(back.stages()).isEqualTo(9);
        assertThat(back.codebookSize()).isEqualTo(16);
        assertThat(back.components()).isEqualTo(16);
        for (float[] x : Arrays.copyOf(test, 30)) {
            int[] tokens = vq.encode(x);
            assertThat(back.encode(x)).containsExactly(tokens);
            assertThat(back.decode(tokens)).containsExactly(vq.decode(tokens));
        }
        byte[] bytes = Files.readAllBytes(file);
        bytes[100] ^= 1;
        Path bad = dir.resolve("bad.bin");
        Files.write(bad, bytes);
        assertThatThrownBy(() -> CoarseToFineVq.read(bad)).isInstanceOf(ArborException.class)
                .hasMessageContaining("checksum");
        Path cut = dir.resolve("cut.bin");
        Files.write(cut, Arrays.copyOf(Files.readAllBytes(file), 5_000));
        assertThatThrownBy(() -> CoarseToFineVq.read(cut)).isInstanceOf(ArborException.class)
                .hasMessageContaining("truncated");
        assertThatThrownBy(() -> CoarseToFineVq.read(dir.resolve("none.bin")))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.NOT_FOUND));
        // an image-vq file is not a coarse-to-fine one, and says where to read it
        assertThatThrownBy(() -> CoarseToFineVq.read(Path.of("../trained/fashion-vq/fashion-patch-vq.bin")))
                .isInstanceOf(ArborException.class).hasMessageContaining("image-vq");
    }

    @Test
    void theImage1dTokenizerDecodesPrefixesAsCoarseImages(@TempDir Path dir) {
        Path file = dir.resolve("c2f.bin");
        vq.write(file);
        CoarseToFineImageTokenizer tok = (CoarseToFineImageTokenizer) new ImageCoarseToFineTokenizerProvider()
                .open(file, Options.empty());
        ImageLayout layout = tok.layout();
        assertThat(layout.scales()).containsExactly(3);
        assertThat(layout.tokensPerImage()).isEqualTo(9);
        assertThat(layout.codes()).isEqualTo(16);
        assertThat(layout.featureDim()).isEqualTo(16);
        assertThat(tok.vocabSize()).isEqualTo(16 + 10 + 1 + 16 + 1);
        assertThat(tok.encode("sneaker", true)).containsExactly(16 + 7);
        float[][] pixels = new float[28][];
        for (int y = 0; y < 28; y++) pixels[y] = Arrays.copyOfRange(test[0], y * 28, (y + 1) * 28);
        int[] tokens = tok.encodeImage(pixels);
        assertThat(tokens).containsExactly(vq.encode(test[0]));
        for (int n = 0; n <= tokens.length; n++) {
            float[][] image = tok.decodeImage(Arrays.copyOf(tokens, n));
            assertThat(image).hasNumberOfRows(28);
            assertThat(flatten(image)).containsExactly(vq.decode(Arrays.copyOf(tokens, n)));
            assertThat(Png.encode(image)).isNotEmpty();
        }
        assertThatThrownBy(() -> tok.decodeImage(new int[] {16})).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not a code");
        assertThatThrownBy(() -> tok.decodeImage(new int[10])).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("an image has 9");
        assertThatThrownBy(() -> tok.scaleInput(tokens, 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("one scale");
    }

    @Test
    void aNonSquareStageCountCannotServePriors() {
        float[][][] books = new float[5][2][16];
        PcaBasis basis = vq.basis();
        CoarseToFineVq five = new CoarseToFineVq(basis, books);
        assertThatThrownBy(() -> new CoarseToFineImageTokenizer(five, VqImageTokenizer.FASHION_CLASSES))
                .isInstanceOf(ArborException.class).hasMessageContaining("square number of stages");
    }

    static float[] clamp(float[] x) {
        float[] y = x.clone();
        for (int i = 0; i < y.length; i++) y[i] = Math.min(1f, Math.max(0f, y[i]));
        return y;
    }

    static float[] flatten(float[][] image) {
        float[] out = new float[28 * 28];
        for (int y = 0; y < 28; y++) System.arraycopy(image[y], 0, out, y * 28, 28);
        return out;
    }
}
