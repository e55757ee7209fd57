package dev.arbor.models.llama2c;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RandomLlama2cCheckpointTest {
    /** A small shape with grouped-query attention, so wk/wv differ in size from wq. */
    private static final Llama2cConfig SMALL = new Llama2cConfig(32, 48, 2, 4, 2, 64, 16, true);

    @Test
    void roundTripsThroughTheCheckpointReader(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("random.bin");
        RandomLlama2cCheckpoint.write(SMALL, 7, file);
        Llama2cCheckpoint ckpt = Llama2cCheckpoint.read(file);
        assertThat(ckpt.config()).isEqualTo(SMALL);
        assertThat(Files.size(file)).isEqualTo(SMALL.fileSize());
        assertThat(ckpt.wcls()).isSameAs(ckpt.tokenEmbedding());
        assertThat(ckpt.rmsAtt(1)).containsOnly(1f);
        assertThat(ckpt.rmsFinal()).containsOnly(1f);
        // BOS and EOS rows are zero (greedy never picks them); the others are N(0, 0.02^2)
        int d = SMALL.dim();
        for (int c = 0; c < d; c++) {
            assertThat(ckpt.tokenEmbedding()[d + c]).isZero();
            assertThat(ckpt.tokenEmbedding()[2 * d + c]).isZero();
        }
        float[] w1 = ckpt.w1(0);
        double sum = 0;
        double sq = 0;
        for (float v : w1) {
            sum += v;
            sq += v * v;
        }
        double mean = sum / w1.length;
        double std = Math.sqrt(sq / w1.length - mean * mean);
        assertThat(mean).isBetween(-0.003, 0.003);
        assertThat(std).isBetween(0.018, 0.022);
    }

    @Test
    void greedyDecodingNeverPicksBosOrEosSoEveryEngineRunsTheFullLength(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("random.bin");
        Llama2cConfig config = new Llama2cConfig(48, 96, 2, 4, 4, 256, 64, true);
        RandomLlama2cCheckpoint.write(config, 5, file);
        try (Llama2cReferenceModel model = Llama2cReferenceModel.open(file);
             DecodeState state = model.newState(1)) {
            // BOS's embedding row is zero: the first step's activations, hence all its logits, are exactly 0 and
            // greedy takes the first id, 0, in every engine
            float[] first = model.forward(ForwardRequest.next(new int[][] {{1}}, state)).last(0);
            assertThat(first).containsOnly(0f);
            int token = Stories260K.argmax(first);
            assertThat(token).isZero();
            for (int step = 1; step < 60; step++) {
                float[] logits = model.forward(ForwardRequest.next(new int[][] {{token}}, state)).last(0);
                assertThat(logits[1]).isZero();
                assertThat(logits[2]).isZero();
                token = Stories260K.argmax(logits);
                assertThat(token).isNotIn(1, 2);
                assertThat(logits[token]).isPositive().isLessThan(10f);   // activations stay in a sane range
            }
        }
    }

    @Test
    void writesAnUnsharedClassifierAfterTheRopeTables(@TempDir Path dir) throws IOException {
        Llama2cConfig unshared = new Llama2cConfig(32, 48, 2, 4, 2, 64, 16, false);
        Path file = dir.resolve("unshared.bin");
        RandomLlama2cCheckpoint.main(new String[] {file.toString(), "3", "32,48,2,4,2,64,16", "unshared"});
        Llama2cCheckpoint ckpt = Llama2cCheckpoint.read(file);
        assertThat(ckpt.config()).isEqualTo(unshared);
        assertThat(ckpt.wcls()).isNotSameAs(ckpt.tokenEmbedding());
        assertThat(ckpt.wcls()[SMALL.dim()]).isZero();          // row 1 of the classifier
        assertThat(ckpt.tokenEmbedding()[SMALL.dim()]).isNotZero();   // the embedding of BOS is an ordinary row
    }

    @Test
    void sameSeedSameBytesDifferentSeedDifferentBytes(@TempDir Path dir) throws IOException {
        Path a = dir.resolve("a.bin");
        Path b = dir.resolve("b.bin");
        Path c = dir.resolve("c.bin");
        RandomLlama2cCheckpoint.write(SMALL, 11, a);
        RandomLlama2cCheckpoint.write(SMALL, 11, b);
        RandomLlama2cCheckpoint.write(SMALL, 12, c);
        assertThat(Files.readAllBytes(b)).isEqualTo(Files.readAllBytes(a));
        assertThat(Files.readAllBytes(c)).isNotEqualTo(Files.readAllBytes(a));
        assertThat(Files.size(c)).isEqualTo(Files.size(a));
    }

    @Test
    void defaultsToTheStories15MShape(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("15m.bin");
        RandomLlama2cCheckpoint.main(new String[] {file.toString()});
        assertThat(Files.size(file)).isEqualTo(RandomLlama2cCheckpoint.STORIES15M_SHAPE.fileSize());
        assertThat(Llama2cCheckpoint.read(file).config()).isEqualTo(RandomLlama2cCheckpoint.STORIES15M_SHAPE);
    }

    @Test
    void badArgumentsNameWhatIsWrong(@TempDir Path dir) {
        String out = dir.resolve("x.bin").toString();
        assertThatThrownBy(() -> RandomLlama2cCheckpoint.main(new String[] {out, "1", "288,768,6"}))
                .isInstanceOf(ArborException.class).hasMessageContaining("7 integers");
        assertThatThrownBy(() -> RandomLlama2cCheckpoint.main(new String[] {out, "one"}))
                .isInstanceOf(ArborException.class).hasMessageContaining("seed must be an integer");
        assertThatThrownBy(() -> RandomLlama2cCheckpoint.main(new String[] {out, "1", "32,48,2,4,2,64,16", "tied"}))
                .isInstanceOf(ArborException.class).hasMessageContaining("'shared' or 'unshared'");
        assertThatThrownBy(() -> RandomLlama2cCheckpoint.main(new String[] {out, "1", "30,48,2,4,2,64,16"}))
                .isInstanceOf(ArborException.class).hasMessageContaining("not divisible by n_heads");
    }
}
