package dev.arbor.models.images;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.LatentImageCodec;
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
 * The committed patch PCA codec (models/trained/fashion-vq/fashion-patch-pca.bin) through the image-latent provider:
 * layout, round trips on the first 2,000 test images, the wire quantisation bounds, prefix decoding, the file checks.
 */
class PatchPcaCodecTest {
    static final Path FILE = Path.of("../trained/fashion-vq").resolve(TrainPatchPca.FILE);
    static PatchPcaCodec codec;
    static float[][] test;

    @BeforeAll
    static void open() {
        codec = (PatchPcaCodec) new ImageLatentCodecProvider().open(FILE, Options.empty());
        test = Arrays.copyOf(FashionMnist.load(FashionMnist.Split.TEST).images(), 2_000);
    }

    @Test
    void layoutIsTheWireForm() {
        ImageLayout l = codec.layout();
        assertThat(codec).isInstanceOf(LatentImageCodec.class);
        assertThat(codec.latentDim()).isEqualTo(16);
        assertThat(codec.latentTokens()).isEqualTo(49);
        assertThat(codec.gridSide()).isEqualTo(7);
        assertThat(codec.valueRange()).isEqualTo(3f);
        assertThat(l.codes()).isEqualTo(256);
        assertThat(l.scales()).containsExactly(28);
        assertThat(l.tokensPerImage()).isEqualTo(784);
        assertThat(l.featureDim()).isEqualTo(16);
        assertThat(l.classToken(0)).isEqualTo(256);
        assertThat(l.classToken(9)).isEqualTo(265);
        assertThat(l.nullClassToken()).isEqualTo(266);
        assertThat(l.featureBasisToken(0)).isEqualTo(267);
        assertThat(l.featureBasisToken(15)).isEqualTo(282);
        assertThat(l.levelToken(0)).isEqualTo(283);
        assertThat(codec.vocabSize()).isEqualTo(284);
        assertThat(codec.encode(" Sneaker", true)).containsExactly(263);
        assertThat(codec.decode(new int[] {263, 12, 266})).isEqualTo("sneaker");
        assertThatThrownBy(() -> codec.encode("cat", true)).isInstanceOf(ArborException.class)
                .hasMessageContaining("ankle boot");
    }

    @Test
    void basisIsOrthonormalAndOrderedByVariance() {
        double[] variance = new double[16];
        for (float[] x : test) {
            for (float[] v : codec.encodeLatents(TrainPatchPca.grid(x))) {
                for (int d = 0; d < 16; d++) variance[d] += v[d] * v[d];
            }
        }
        for (int d = 1; d < 16; d++) {
            assertThat(variance[d]).as("variance of component %d", d).isLessThan(variance[d - 1] * 1.05);
        }
        for (int a = 0; a < 16; a++) {
            for (int b = 0; b < 16; b++) {
                double dot = 0;
                for (int i = 0; i < 16; i++) dot += codec.component(a)[i] * codec.component(b)[i];
                assertThat(dot).isCloseTo(a == b ? 1 : 0, org.assertj.core.data.Offset.offset(1e-4));
            }
        }
    }

    /** Committed file: 154 dB in float, 44.6 dB through the 8-bit wire form on all 10,000 test images (card). */
    @Test
    void roundTripThroughTheWireFormIsNearlyLossless() {
        double exact = ReconstructionQuality.mse(test,
                x -> TrainPatchPca.flat(codec.decodeLatents(codec.encodeLatents(TrainPatchPca.grid(x)))));
        double wire = ReconstructionQuality.mse(test, x -> TrainPatchPca.flat(codec.decodeImage(
                codec.toIds(codec.fromIds(codec.toIds(codec.encodeLatents(TrainPatchPca.grid(x))))))));
        System.out.printf("patch PCA on 2,000 test images: float %.2f dB, wire %.2f dB%n",
                ReconstructionQuality.psnr(exact), ReconstructionQuality.psnr(wire));
        assertThat(ReconstructionQuality.psnr(exact)).isGreaterThan(90);
        assertThat(ReconstructionQuality.psnr(wire)).isGreaterThan(40);
    }

    @Test
    void wireQuantisationStaysWithinHalfAStepAndClampsAtTheRange() {
        float step = 6f / 255;
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < 10_000; i++) {
            float v = (float) (rnd.nextDouble() * 6 - 3);
            int id = codec.quantise(v);
            assertThat(id).isBetween(0, 255);
            float back = codec.fromIds(repeat(id))[0][0];
            assertThat(Math.abs(back - v)).isLessThanOrEqualTo(step / 2 + 1e-6f);
        }
        assertThat(codec.quantise(-3f)).isZero();
        assertThat(codec.quantise(3f)).isEqualTo(255);
        assertThat(codec.quantise(-100f)).isZero();
        assertThat(codec.quantise(Float.POSITIVE_INFINITY)).isEqualTo(255);
        assertThat(codec.fromIds(repeat(0))[0][0]).isEqualTo(-3f);
        assertThat(codec.fromIds(repeat(255))[0][0]).isEqualTo(3f);
        assertThatThrownBy(() -> codec.fromIds(new int[15])).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("whole number");
        assertThatThrownBy(() -> codec.fromIds(repeat(256))).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0..255");
    }

    @Test
    void prefixDecodesTheTokensSoFarAndBlackElsewhere() {
        int[] ids = codec.encodeImage(TrainPatchPca.grid(test[3]));
        assertThat(ids).hasSize(784);
        float[][] whole = codec.decodeImage(ids);
        float[][] half = codec.decodeImage(Arrays.copyOf(ids, 16 * 10)); // 10 tokens: row 0 and 3 patches of row 1
        for (int y = 0; y < 28; y++) {
            for (int x = 0; x < 28; x++) {
                int token = (y / 4) * 7 + x / 4;
                if (token < 10) {
                    assertThat(half[y][x]).isEqualTo(whole[y][x]);
                } else {
                    assertThat(half[y][x]).isZero();
                }
            }
        }
        // a partial token shows its first (highest-variance) values, the rest at 0
        float[][] partial = codec.decodeImage(Arrays.copyOf(ids, 16 * 10 + 4));
        float[][] latents = codec.fromIds(Arrays.copyOf(ids, 16 * 11));
        Arrays.fill(latents[10], 4, 16, 0f);
        assertThat(partial).isDeepEqualTo(codec.decodeLatents(latents));
        assertThat(codec.decodeImage(new int[0])[5]).containsOnly(0f);
        assertThatThrownBy(() -> codec.decodeImage(new int[785])).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void fileChecksNameTheCause(@TempDir Path dir) throws Exception {
        Path copy = dir.resolve("c.bin");
        codec.write(copy);
        assertThat(PatchPcaCodec.read(copy, VqImageTokenizer.FASHION_CLASSES).encodeImage(TrainPatchPca.grid(test[0])))
                .containsExactly(codec.encodeImage(TrainPatchPca.grid(test[0])));
        byte[] bytes = Files.readAllBytes(copy);
        bytes[40] ^= 1;
        Files.write(copy, bytes);
        assertThatThrownBy(() -> PatchPcaCodec.read(copy, VqImageTokenizer.FASHION_CLASSES))
                .isInstanceOf(ArborException.class).hasMessageContaining("checksum");
        Files.write(copy, Arrays.copyOf(bytes, 100));
        assertThatThrownBy(() -> PatchPcaCodec.read(copy, VqImageTokenizer.FASHION_CLASSES))
                .isInstanceOf(ArborException.class).hasMessageContaining("truncated");
        assertThatThrownBy(() -> PatchPcaCodec.read(dir.resolve("none.bin"), VqImageTokenizer.FASHION_CLASSES))
                .isInstanceOf(ArborException.class).hasMessageContaining("not found");
    }

    @Test
    void jacobiFindsTheEigenvectorsOfASymmetricMatrix() {
        double[][] a = {{4, 1, 0.5}, {1, 3, 0.2}, {0.5, 0.2, 1}};
        double[][] v = SymmetricEigen.decompose(a);
        double previous = Double.POSITIVE_INFINITY;
        for (double[] e : v) {
            double[] av = new double[3];
            for (int i = 0; i < 3; i++) for (int k = 0; k < 3; k++) av[i] += a[i][k] * e[k];
            double lambda = av[0] * e[0] + av[1] * e[1] + av[2] * e[2];
            for (int i = 0; i < 3; i++) assertThat(av[i]).isCloseTo(lambda * e[i], org.assertj.core.data.Offset.offset(1e-9));
            assertThat(lambda).isLessThan(previous);
            previous = lambda;
        }
    }

    private static int[] repeat(int id) {
        int[] ids = new int[16];
        Arrays.fill(ids, id);
        return ids;
    }
}
