package dev.arbor.models.images;

import dev.arbor.api.ArborException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PatchVqTokenizerTest {
    static float[][] images;
    static PatchVqTokenizer tokenizer;

    @BeforeAll
    static void trainSmall() {
        images = Arrays.copyOf(FashionMnist.load(FashionMnist.Split.TEST).images(), 200);
        tokenizer = PatchVqTokenizer.train(images, 32, 4_000, 5, 7L);
    }

    /** Brute-force nearest code in double precision, ties to the lower index: independent of KMeans.nearest. */
    static int nearest(PatchVqTokenizer t, float[] x, int off) {
        int best = -1;
        double bestD = Double.POSITIVE_INFINITY;
        for (int j = 0; j < t.codebookSize(); j++) {
            float[] c = t.codeVector(j);
            double d = 0;
            for (int i = 0; i < c.length; i++) d += (x[off + i] - (double) c[i]) * (x[off + i] - (double) c[i]);
            if (d < bestD) {
                bestD = d;
                best = j;
            }
        }
        return best;
    }

    @Test
    void decodeOfEncodeIsTheNearestCodeReconstruction() {
        for (int n = 0; n < 50; n++) {
            float[] x = images[n];
            int[] tokens = tokenizer.encode(x);
            assertThat(tokens).hasSize(49);
            float[] f = PatchGrid.toFeatures(x);
            float[] expected = new float[784];
            for (int cell = 0; cell < 49; cell++) {
                int id = nearest(tokenizer, f, cell * 16);
                assertThat(tokens[cell]).isEqualTo(id);
                float[] code = tokenizer.codeVector(id);
                int r = cell / 7, c = cell % 7;
                for (int y = 0; y < 4; y++) {
                    for (int xx = 0; xx < 4; xx++) expected[(r * 4 + y) * 28 + c * 4 + xx] = code[y * 4 + xx];
                }
            }
            assertThat(tokenizer.decode(tokens)).containsExactly(expected);
        }
    }

    @Test
    void encodeOfDecodeReturnsTheCodes() {
        SplittableRandom rnd = new SplittableRandom(3);
        for (int n = 0; n < 50; n++) {
            int[] t = new int[49];
            for (int i = 0; i < 49; i++) t[i] = rnd.nextInt(tokenizer.codebookSize());
            assertThat(tokenizer.encode(tokenizer.decode(t))).containsExactly(t);
        }
    }

    @Test
    void trainingIsDeterministicAndRefusesBadInput() {
        PatchVqTokenizer again = PatchVqTokenizer.train(images, 32, 4_000, 5, 7L);
        for (int j = 0; j < 32; j++) assertThat(again.codeVector(j)).containsExactly(tokenizer.codeVector(j));
        assertThatThrownBy(() -> tokenizer.decode(new int[48])).hasMessageContaining("49 tokens");
        int[] outside = new int[49];
        outside[5] = 32;
        assertThatThrownBy(() -> tokenizer.decode(outside)).hasMessageContaining("token 32 outside the codebook");
    }

    @Test
    void fileRoundTripAndMalformedFilesRefused(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("vq.bin");
        tokenizer.write(file);
        PatchVqTokenizer back = PatchVqTokenizer.read(file);
        assertThat(back.codebookSize()).isEqualTo(32);
        for (int j = 0; j < 32; j++) assertThat(back.codeVector(j)).containsExactly(tokenizer.codeVector(j));
        assertThat(back.encode(images[0])).containsExactly(tokenizer.encode(images[0]));

        byte[] bytes = Files.readAllBytes(file);
        Path truncated = dir.resolve("truncated.bin");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length - 100));
        assertBad(truncated, "truncated");
        Files.write(truncated, Arrays.copyOf(bytes, 20));
        assertBad(truncated, "truncated");

        byte[] corrupt = bytes.clone();
        corrupt[bytes.length - 50] ^= 1;
        Path corrupted = dir.resolve("corrupt.bin");
        Files.write(corrupted, corrupt);
        assertBad(corrupted, "checksum mismatch");

        Path text = dir.resolve("text.bin");
        Files.writeString(text, "{\"not\": \"a codebook\"}");
        assertBad(text, "bad magic");

        Path msvq = dir.resolve("msvq.bin");
        new MultiScaleVq(MultiScaleVq.DEFAULT_SCALES, new float[][] {new float[16]}).write(msvq);
        assertBad(msvq, "holds a multi-scale residual VQ tokenizer");

        assertThatThrownBy(() -> PatchVqTokenizer.read(dir.resolve("absent.bin")))
                .isInstanceOf(ArborException.class).hasMessageContaining("not found");
    }

    static void assertBad(Path file, String cause) {
        assertThatThrownBy(() -> PatchVqTokenizer.read(file)).isInstanceOf(ArborException.class)
                .hasMessageContaining(file.toString()).hasMessageContaining(cause)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.BAD_MODEL));
    }
}
