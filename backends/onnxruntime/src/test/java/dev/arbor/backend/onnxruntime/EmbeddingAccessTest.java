package dev.arbor.backend.onnxruntime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cOnnxConverter;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Format llama2c offers the checkpoint's token embedding as {@link EmbeddingAccess} (grouped speculative decoding
 * needs it) and lists {@link Capability#EMBEDDING_MATRIX}; the same graph opened as plain format onnx offers neither.
 */
class EmbeddingAccessTest {
    @TempDir
    Path cache;

    @Test
    void llama2cModelsOfferTheirCheckpointsTokenEmbedding() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        Llama2cCheckpoint weights = Llama2cCheckpoint.read(checkpoint);
        int dim = weights.config().dim();
        try (ModelBackend backend = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString()))))) {
            assertThat(backend.card().supports(Capability.EMBEDDING_MATRIX)).isTrue();
            EmbeddingAccess access = backend.extension(EmbeddingAccess.class).orElseThrow();
            assertThat(access.embeddingSize()).isEqualTo(dim).isEqualTo(backend.card().hiddenSize());
            for (int id : new int[] {0, 1, 2, 257, backend.card().vocabSize() - 1}) {
                float[] row = access.embedding(id);
                assertThat(row).containsExactly(Arrays.copyOfRange(weights.tokenEmbedding(), id * dim,
                        (id + 1) * dim));
                row[0] = Float.NaN; // a fresh copy: changing it changes nothing
                assertThat(access.embedding(id)[0]).isEqualTo(weights.tokenEmbedding()[id * dim]);
            }
            assertThat(access.embedding(3)).isNotEqualTo(access.embedding(4));
            assertThatThrownBy(() -> access.embedding(backend.card().vocabSize()))
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining("outside the vocabulary [0, 512)");
        }
    }

    @Test
    void plainOnnxFilesOfferNoEmbeddingMatrix() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        Path onnx = Llama2cOnnxConverter.convertCached(checkpoint, 0, cache);
        try (ModelBackend backend = new OnnxRuntimeBackendProvider().open(new ModelSpec(onnx, "onnx",
                Options.empty()))) {
            assertThat(backend.card().supports(Capability.EMBEDDING_MATRIX)).isFalse();
            assertThat(backend.extension(EmbeddingAccess.class)).isEmpty();
            assertThatThrownBy(() -> ((EmbeddingAccess) backend).embedding(0))
                    .isInstanceOf(ArborException.class).hasMessageContaining("only models opened with format llama2c");
        }
    }
}
