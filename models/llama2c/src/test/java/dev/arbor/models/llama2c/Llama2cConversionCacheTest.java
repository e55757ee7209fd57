package dev.arbor.models.llama2c;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.arbor.api.ArborException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A damaged conversion cache entry is noticed, reported once and rebuilt; a NaN weight is refused at load. */
class Llama2cConversionCacheTest {
    private static final Logger CACHE_LOG = Logger.getLogger(VerifiedCacheFile.class.getName());
    private final List<LogRecord> records = new ArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord r) {
            records.add(r);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    @TempDir
    Path cache;

    @BeforeEach
    void listen() {
        CACHE_LOG.addHandler(capture);
    }

    @AfterEach
    void stopListening() {
        CACHE_LOG.removeHandler(capture);
    }

    @Test
    void aTruncatedCachedFileIsRebuiltWithOneLogLineAndLoads() throws IOException, OrtException {
        Path converted = Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 0, cache);
        long size = Files.size(converted);
        assertThat(VerifiedCacheFile.sidecarOf(converted)).exists();
        try (FileChannel ch = FileChannel.open(converted, StandardOpenOption.WRITE)) {
            ch.truncate(size / 2);
        }
        assertThat(records).isEmpty();

        Path again = Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 0, cache);

        assertThat(again).isEqualTo(converted);
        assertThat(Files.size(again)).isEqualTo(size);
        assertThat(records).hasSize(1);
        assertThat(records.get(0).getLevel()).isEqualTo(Level.WARNING);
        assertThat(records.get(0).getMessage()).contains(converted.toString()).contains("truncated")
                .contains("rebuilding");
        try (OrtSession s = OrtEnvironment.getEnvironment().createSession(again.toString(),
                new OrtSession.SessionOptions())) {
            assertThat(s.getOutputNames()).contains("logits");
        }
        // verified now: a third open uses it silently
        Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 0, cache);
        assertThat(records).hasSize(1);
    }

    @Test
    void anAlteredByteOrAMissingDigestIsRebuiltToo() throws IOException {
        Path converted = Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 1, cache);
        byte[] good = Files.readAllBytes(converted);
        byte[] flipped = good.clone();
        flipped[flipped.length / 2] ^= 0x40;
        Files.write(converted, flipped);
        Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 1, cache);
        assertThat(Files.readAllBytes(converted)).isEqualTo(good);
        assertThat(records).singleElement().satisfies(r -> assertThat(r.getMessage()).contains("altered"));

        // a writer that died between the file and its digest
        Files.delete(VerifiedCacheFile.sidecarOf(converted));
        Llama2cOnnxConverter.convertCached(Stories260K.checkpoint(), 1, cache);
        assertThat(VerifiedCacheFile.sidecarOf(converted)).exists();
        assertThat(records).hasSize(2);
        assertThat(records.get(1).getMessage()).contains("no digest");
        try (var files = Files.list(cache)) {
            assertThat(files.filter(p -> p.toString().endsWith(".tmp"))).isEmpty();
        }
    }

    @Test
    void aCheckpointWithANanWeightIsABadModelNamingTheTensor(@TempDir Path dir) throws IOException {
        Path copy = dir.resolve("stories-nan.bin");
        Files.copy(Stories260K.checkpoint(), copy);
        Llama2cConfig c = Llama2cCheckpoint.read(copy).config();
        // rms_att_weight[0][3]: right after the token embedding table
        long offset = Llama2cCheckpoint.HEADER_BYTES + 4L * c.vocabSize() * c.dim() + 4L * 3;
        try (FileChannel ch = FileChannel.open(copy, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, Float.NaN), offset);
        }
        assertThatThrownBy(() -> Llama2cOnnxConverter.convertCached(copy, 0, cache))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining(copy.toString()).hasMessageContaining("rms_att_weight[0]")
                .hasMessageContaining("NaN").hasMessageContaining("index 3");
        try (var files = Files.list(cache)) {
            assertThat(files).as("nothing cached for a bad checkpoint").isEmpty();
        }
    }
}
