package dev.arbor.models.images;

import dev.arbor.api.ArborException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.CRC32;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class MultiScaleVqTest {
    static float[][] images;
    static MultiScaleVq vq;

    @BeforeAll
    static void trainSmall() {
        images = Arrays.copyOf(FashionMnist.load(FashionMnist.Split.TEST).images(), 300);
        vq = MultiScaleVq.train(images, MultiScaleVq.DEFAULT_SCALES, 48, 150, 3, 2, 11L);
    }

    @Test
    void tokenCountIsTheSumOfSquaredScalesInScaleOrder() {
        assertThat(vq.scales()).containsExactly(1, 2, 3, 4, 5, 7);
        assertThat(vq.tokensPerImage()).isEqualTo(1 + 4 + 9 + 16 + 25 + 49).isEqualTo(104);
        int[] seg = vq.scaleOfPosition();
        assertThat(seg).hasSize(104);
        for (int k = 0; k < 6; k++) {
            int s = vq.scales()[k];
            assertThat(vq.tokenOffset(k + 1) - vq.tokenOffset(k)).isEqualTo(s * s);
            for (int i = vq.tokenOffset(k); i < vq.tokenOffset(k + 1); i++) assertThat(seg[i]).isEqualTo(k);
        }
        assertThat(vq.encode(images[0])).hasSize(104);
        assertThat(new MultiScaleVq(new int[] {2, 7}, new float[][] {new float[16]}).tokensPerImage()).isEqualTo(53);
        assertThatThrownBy(() -> new MultiScaleVq(new int[] {1, 3, 2, 7}, new float[][] {new float[16]}))
                .hasMessageContaining("strictly increasing");
        assertThatThrownBy(() -> new MultiScaleVq(new int[] {1, 2, 5}, new float[][] {new float[16]}))
                .hasMessageContaining("last scale must be the full grid 7");
    }

    @Test
    void resamplingMatchesPyTorchAreaAndBilinearHalfPixel() {
        // A 2x2 map whose value is the column index (same in every channel): bilinear, align_corners=False, to 7
        // gives PyTorch's 0, 0, 3/14, 1/2, 11/14, 1, 1 along a row.
        float[] map = new float[2 * 2 * 16];
        for (int cell = 0; cell < 4; cell++) Arrays.fill(map, cell * 16, cell * 16 + 16, cell % 2);
        float[] up = MultiScaleVq.upsample(map, 2, 7);
        float[] expected = {0, 0, 3f / 14, 0.5f, 11f / 14, 1, 1};
        for (int r = 0; r < 7; r++) {
            for (int c = 0; c < 7; c++) assertThat(up[(r * 7 + c) * 16 + 5]).isCloseTo(expected[c], within(1e-6f));
        }
        // Area 7 -> 3: cells cover columns 0-2, 2-4, 4-6 (overlapping, as adaptive_avg_pool2d).
        float[] ramp = new float[49 * 16];
        for (int cell = 0; cell < 49; cell++) Arrays.fill(ramp, cell * 16, cell * 16 + 16, cell % 7);
        float[] down = MultiScaleVq.areaDownsample(ramp, 7, 3);
        assertThat(down[0]).isCloseTo(1f, within(1e-6f));
        assertThat(down[16]).isCloseTo(3f, within(1e-6f));
        assertThat(down[32]).isCloseTo(5f, within(1e-6f));
        assertThat(MultiScaleVq.areaDownsample(ramp, 7, 1)[3]).isCloseTo(3f, within(1e-6f));
        assertThat(MultiScaleVq.areaDownsample(ramp, 7, 7)).containsExactly(ramp);
        assertThat(MultiScaleVq.upsample(ramp, 7, 7)).containsExactly(ramp);
    }

    /** An independent re-run of VAR's residual loop with brute-force double-precision nearest codes. */
    @Test
    void encodeAndDecodeFollowTheResidualAccumulation() {
        for (int n = 0; n < 30; n++) {
            float[] x = images[200 + n];
            int[] tokens = vq.encode(x);
            float[] rest = PatchGrid.toFeatures(x);
            float[] fhat = new float[49 * 16];
            for (int k = 0; k < 6; k++) {
                int s = vq.scales()[k];
                assertThat(vq.nextScaleInput(tokens, k)).containsExactly(MultiScaleVq.areaDownsample(fhat, 7, s));
                float[] down = MultiScaleVq.areaDownsample(rest, 7, s);
                float[] q = new float[s * s * 16];
                for (int cell = 0; cell < s * s; cell++) {
                    int id = nearest(down, cell * 16);
                    assertThat(tokens[vq.tokenOffset(k) + cell]).as("scale %d cell %d", k, cell).isEqualTo(id);
                    System.arraycopy(vq.codeVector(id), 0, q, cell * 16, 16);
                }
                float[] up = MultiScaleVq.upsample(q, s, 7);
                for (int i = 0; i < rest.length; i++) {
                    rest[i] -= up[i];
                    fhat[i] += up[i];
                }
                assertThat(vq.accumulate(tokens, k + 1)).containsExactly(fhat);
            }
            assertThat(vq.decode(tokens)).containsExactly(PatchGrid.toImage(fhat));
            // accumulate ignores the tokens of later scales.
            int[] changed = tokens.clone();
            Arrays.fill(changed, vq.tokenOffset(3), 104, 0);
            assertThat(vq.accumulate(changed, 3)).containsExactly(vq.accumulate(tokens, 3));
        }
        assertThat(vq.nextScaleInput(vq.encode(images[0]), 0)).containsOnly(0f).hasSize(16);
    }

    static int nearest(float[] x, int off) {
        int best = -1;
        double bestD = Double.POSITIVE_INFINITY;
        for (int j = 0; j < vq.codebookSize(); j++) {
            float[] c = vq.codeVector(j);
            double d = 0;
            for (int i = 0; i < 16; i++) d += (x[off + i] - (double) c[i]) * (x[off + i] - (double) c[i]);
            if (d < bestD) {
                bestD = d;
                best = j;
            }
        }
        return best;
    }

    @Test
    void eachScaleLowersTheTrainingReconstructionError() {
        float[][] some = Arrays.copyOf(images, 150);
        double previous = ReconstructionQuality.mse(some, x -> new float[784]);
        for (int k = 1; k <= 6; k++) {
            int kk = k;
            double mse = ReconstructionQuality.mse(some, x -> PatchGrid.toImage(vq.accumulate(vq.encode(x), kk)));
            assertThat(mse).as("after %d scales", k).isLessThan(previous);
            previous = mse;
        }
    }

    @Test
    void fileRoundTripAndMalformedFilesRefused(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("msvq.bin");
        vq.write(file);
        MultiScaleVq back = MultiScaleVq.read(file);
        assertThat(back.scales()).containsExactly(vq.scales());
        for (int j = 0; j < vq.codebookSize(); j++) assertThat(back.codeVector(j)).containsExactly(vq.codeVector(j));
        assertThat(back.encode(images[7])).containsExactly(vq.encode(images[7]));

        byte[] bytes = Files.readAllBytes(file);
        Path truncated = dir.resolve("truncated.bin");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length - 1));
        assertBad(truncated, "truncated");

        // A well-formed file (valid checksum) whose scales do not end at the full grid.
        ByteBuffer b = ByteBuffer.wrap(bytes.clone());
        int scalesAt = 8 + 4 * 7;
        b.putInt(scalesAt + 4 * 5, 6); // last scale 7 -> 6
        CRC32 crc = new CRC32();
        crc.update(b.array(), 0, bytes.length - 4);
        b.putInt(bytes.length - 4, (int) crc.getValue());
        Path wrongScales = dir.resolve("scales.bin");
        Files.write(wrongScales, b.array());
        assertBad(wrongScales, "last scale must be the full grid 7");

        ByteBuffer v = ByteBuffer.wrap(bytes.clone());
        v.putInt(8, 2);
        Path version = dir.resolve("version.bin");
        Files.write(version, v.array());
        assertBad(version, "unsupported version 2");

        Path patch = dir.resolve("patch.bin");
        new PatchVqTokenizer(new float[][] {new float[16]}).write(patch);
        assertBad(patch, "holds a single-scale patch VQ tokenizer");
    }

    static void assertBad(Path file, String cause) {
        assertThatThrownBy(() -> MultiScaleVq.read(file)).isInstanceOf(ArborException.class)
                .hasMessageContaining(file.toString()).hasMessageContaining(cause)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.BAD_MODEL));
    }
}
