package dev.arbor.models.llama2c;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cCheckpointTest {

    @Test
    void readsTheStories260KHeaderAndWeights() throws IOException {
        Llama2cCheckpoint ckpt = Llama2cCheckpoint.read(Stories260K.checkpoint());
        Llama2cConfig c = ckpt.config();
        assertThat(c).isEqualTo(new Llama2cConfig(64, 172, 5, 8, 4, 512, 512, true));
        assertThat(c.headSize()).isEqualTo(8);
        assertThat(c.kvDim()).isEqualTo(32);
        assertThat(c.fileSize()).isEqualTo(Files.size(Stories260K.checkpoint()));
        assertThat(ckpt.wcls()).isSameAs(ckpt.tokenEmbedding());
        // The first embedding value is the first float after the header.
        byte[] raw = Files.readAllBytes(Stories260K.checkpoint());
        float first = ByteBuffer.wrap(raw, 28, 4).order(ByteOrder.LITTLE_ENDIAN).getFloat();
        assertThat(ckpt.tokenEmbedding()[0]).isEqualTo(first);
        // rms_final sits right before the RoPE tables at the end of the file.
        int rmsFinalOffset = (int) (raw.length - 4L * c.seqLen() * c.headSize() - 4L * c.dim());
        assertThat(ckpt.rmsFinal()[0])
                .isEqualTo(ByteBuffer.wrap(raw, rmsFinalOffset, 4).order(ByteOrder.LITTLE_ENDIAN).getFloat());
        assertThat(ckpt.withLayers(2).config().nLayers()).isEqualTo(2);
    }

    @Test
    void truncatedCheckpointNamesFileAndSizes(@TempDir Path dir) throws IOException {
        byte[] raw = Files.readAllBytes(Stories260K.checkpoint());
        Path cut = dir.resolve("cut.bin");
        Files.write(cut, Arrays.copyOf(raw, raw.length / 2));
        assertThatThrownBy(() -> Llama2cCheckpoint.read(cut))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining(cut.toString()).hasMessageContaining("truncated")
                .hasMessageContaining(String.valueOf(raw.length / 2)).hasMessageContaining(String.valueOf(raw.length));
        Path header = dir.resolve("header.bin");
        Files.write(header, Arrays.copyOf(raw, 10));
        assertThatThrownBy(() -> Llama2cCheckpoint.read(header))
                .isInstanceOf(ArborException.class).hasMessageContaining(header.toString())
                .hasMessageContaining("shorter than the 28-byte header");
        Path longer = dir.resolve("longer.bin");
        Files.write(longer, Arrays.copyOf(raw, raw.length + 8));
        assertThatThrownBy(() -> Llama2cCheckpoint.read(longer))
                .isInstanceOf(ArborException.class).hasMessageContaining(longer.toString())
                .hasMessageContaining("8 unexpected trailing bytes");
    }

    @Test
    void badHeadersAreRejected(@TempDir Path dir) throws IOException {
        assertBadHeader(dir, new int[] {64, 172, 5, 7, 7, 512, 512}, "dim 64 is not divisible by n_heads 7");
        assertBadHeader(dir, new int[] {64, 172, 5, 8, 3, 512, 512}, "n_heads 8 is not divisible by n_kv_heads 3");
        assertBadHeader(dir, new int[] {64, 172, 0, 8, 4, 512, 512}, "n_layers must be positive, got 0");
        assertBadHeader(dir, new int[] {0x4f4e4e58, 1, 2, 3, 4, 5, 6}, "not divisible");
        assertThatThrownBy(() -> Llama2cCheckpoint.read(dir.resolve("absent.bin")))
                .isInstanceOf(ArborException.class).hasMessageContaining("absent.bin")
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.NOT_FOUND));
    }

    @Test
    void negativeVocabMeansAnUnsharedClassifierAfterTheRopeTables(@TempDir Path dir) throws IOException {
        Llama2cConfig cfg = new Llama2cConfig(8, 12, 1, 2, 1, 5, 4, false);
        long floats = cfg.fileFloatCount();
        ByteBuffer buf = ByteBuffer.allocate((int) cfg.fileSize()).order(ByteOrder.LITTLE_ENDIAN);
        buf.putInt(8).putInt(12).putInt(1).putInt(2).putInt(1).putInt(-5).putInt(4);
        for (int i = 0; i < floats; i++) {
            buf.putFloat(i);
        }
        Path file = dir.resolve("unshared.bin");
        Files.write(file, buf.array());
        Llama2cCheckpoint ckpt = Llama2cCheckpoint.read(file);
        assertThat(ckpt.config().sharedClassifier()).isFalse();
        assertThat(ckpt.config().vocabSize()).isEqualTo(5);
        // wcls is the last vocab*dim floats of the file.
        assertThat(ckpt.wcls()[0]).isEqualTo((float) (floats - 5 * 8));
        assertThat(ckpt.wcls()[39]).isEqualTo((float) (floats - 1));
        assertThat(ckpt.wk(0)[0]).isEqualTo(5 * 8 + 8 + 64);
    }

    @Test
    void randomWeightsAreDeterministicPerSeed() {
        Llama2cConfig cfg = new Llama2cConfig(16, 24, 2, 4, 2, 30, 32, true);
        assertThat(Llama2cCheckpoint.random(cfg, 1).w2(1)).containsExactly(Llama2cCheckpoint.random(cfg, 1).w2(1));
        assertThat(Llama2cCheckpoint.random(cfg, 1).w2(1)).isNotEqualTo(Llama2cCheckpoint.random(cfg, 2).w2(1));
        assertThatThrownBy(() -> Llama2cCheckpoint.random(new Llama2cConfig(10, 1, 1, 3, 1, 5, 4, true), 1))
                .isInstanceOf(ArborException.class).hasMessageContaining("dim 10 is not divisible by n_heads 3");
    }

    private static void assertBadHeader(Path dir, int[] header, String message) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(28 + 64).order(ByteOrder.LITTLE_ENDIAN);
        for (int h : header) {
            buf.putInt(h);
        }
        Path file = dir.resolve("bad-" + Arrays.hashCode(header) + ".bin");
        Files.write(file, buf.array());
        assertThatThrownBy(() -> Llama2cCheckpoint.read(file))
                .isInstanceOf(ArborException.class).hasMessageContaining(file.toString())
                .hasMessageContaining(message);
    }
}
