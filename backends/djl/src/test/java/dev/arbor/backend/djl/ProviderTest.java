package dev.arbor.backend.djl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.testkit.SharedModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code djl} provider's formats, options and refusals: what a pipeline author sees when a model, a device or a
 * TorchScript file is wrong, and the offline set-up of the engine.
 */
class ProviderTest {
    private static final Path STORIES = SharedModels.require("stories260K/stories260K.bin");

    private static ModelBackend open(Path path, String format, Map<String, ?> options) {
        return DjlTestSupport.provider().open(new ModelSpec(path, format, Options.of(options)));
    }

    @Test
    void theEngineRunsOfflineWithOneThreadByDefault() {
        try (ModelBackend m = open(STORIES, "llama2c", Map.of())) {
            assertThat(System.getProperty("ai.djl.offline")).isEqualTo("true");
            assertThat(System.getProperty("OPT_OUT_TRACKING")).isEqualTo("true");
            assertThat(dev.arbor.djl.runtime.DjlRuntime.pytorch().getEngineName()).isEqualTo("PyTorch");
            assertThat(m.card().name()).isEqualTo("stories260K.bin");
        }
    }

    @Test
    void unknownFormatsAndMissingFilesAreNamed(@TempDir Path dir) {
        assertThatThrownBy(() -> open(STORIES, "onnx", Map.of())).isInstanceOf(ArborException.class)
                .hasMessageContaining("supported formats: [llama2c, torchscript]");
        assertThatThrownBy(() -> open(dir.resolve("nope.bin"), "llama2c", Map.of()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.NOT_FOUND))
                .hasMessageContaining("nope.bin");
    }

    /** DJL runs PyTorch only: an ONNX model (here onnxruntime-genai's hybrid LFM2) is sent to the right backend. */
    @Test
    void onnxModelsAreRefusedNamingTheOnnxRuntimeBackend() {
        Path lfm2 = SharedModels.require("tiny-random-lfm2");
        assertThatThrownBy(() -> open(lfm2, "onnx", Map.of())).isInstanceOf(ArborException.class)
                .hasMessageContaining("onnxruntime backend");
        for (Path p : new Path[] {lfm2, lfm2.resolve("decoder.onnx")}) {
            for (String format : new String[] {"torchscript", "llama2c"}) {
                assertThatThrownBy(() -> open(p, format, Map.of()))
                        .isInstanceOfSatisfying(ArborException.class,
                                e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                        .hasMessageContaining("'" + p + "' is an ONNX model")
                        .hasMessageContaining("\"backend\": \"onnxruntime\"");
            }
        }
    }

    @Test
    void cudaOnAMachineWithoutAGpuIsAClearIncompatibility() {
        assertThatThrownBy(() -> open(STORIES, "llama2c", Map.of("device", "cuda")))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("sees 0 GPU(s)").hasMessageContaining("-Pcuda");
        assertThatThrownBy(() -> open(STORIES, "llama2c", Map.of("device", "tpu")))
                .hasMessageContaining("option 'device' must be 'cpu' or 'cuda'");
    }

    @Test
    void keepLayersMakesALayerSkipDraftThatDiffersFromTheFullModel() {
        try (ModelBackend full = open(STORIES, "llama2c", Map.of());
             ModelBackend draft = open(STORIES, "llama2c", Map.of("keep_layers", 2))) {
            int[][] seq = {{1, 403, 407}};
            float[] a = full.forward(ForwardRequest.builder(seq).lastRowOnly().build()).last(0);
            float[] b = draft.forward(ForwardRequest.builder(seq).lastRowOnly().build()).last(0);
            assertThat(DjlTestSupport.maxAbsDiff(a, b)).isGreaterThan(1e-2);
            assertThat(draft.card().vocabSize()).isEqualTo(512);
        }
    }

    @Test
    void llama2cModelsOfferTheirInputEmbedding() {
        Llama2cCheckpoint weights = Llama2cCheckpoint.read(STORIES);
        try (ModelBackend m = open(STORIES, "llama2c", Map.of())) {
            EmbeddingAccess e = m.extension(EmbeddingAccess.class).orElseThrow();
            assertThat(e.embeddingSize()).isEqualTo(64);
            float[] row = e.embedding(403);
            for (int i = 0; i < 64; i++) {
                assertThat(row[i]).isEqualTo(weights.tokenEmbedding()[403 * 64 + i]);
            }
            assertThatThrownBy(() -> e.embedding(512)).hasMessageContaining("outside the vocabulary");
        }
    }

    /** The project's own models carry their facts in a {@code .card.json} sidecar (mask id, alignment, attention). */
    @Test
    void theModelCardSidecarGivesDiffusionFacts(@TempDir Path dir) throws IOException {
        Path checkpoint = Files.copy(STORIES, dir.resolve("mdlm.bin"));
        Files.writeString(dir.resolve("mdlm.card.json"), "{\"name\": \"toy-mdlm\", \"bos\": 1, \"eos\": [2], "
                + "\"mask\": 511, \"alignment\": \"SAME\", \"attention\": \"BLOCK_CAUSAL\", \"block_size\": 4}");
        try (ModelBackend m = open(checkpoint, "llama2c", Map.of())) {
            assertThat(m.card().name()).isEqualTo("toy-mdlm");
            assertThat(m.card().maskTokenId()).hasValue(511);
            assertThat(m.card().eosTokenIds()).containsExactly(2);
            assertThat(m.card().alignment()).isEqualTo(dev.arbor.api.model.LogitAlignment.SAME);
            assertThat(m.card().nativeAttention()).isEqualTo(dev.arbor.api.model.NativeAttention.BLOCK_CAUSAL);
            assertThat(m.card().blockSize()).isEqualTo(4);
        }
    }

    @Test
    void aClosedBackendRefusesWork() {
        ModelBackend m = open(STORIES, "llama2c", Map.of());
        m.close();
        m.close(); // idempotent
        assertThatThrownBy(() -> m.forward(ForwardRequest.builder(new int[][] {{1}}).build()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.UNAVAILABLE));
    }

    /**
     * TorchScript: what can be checked without Python here. A real traced decoder could not be produced in this
     * environment (no torch), so loading and running one is not tested; these are the refusals a pipeline author
     * meets first.
     */
    @Test
    void torchScriptNeedsItsKvLayoutAndRefusesFilesThatAreNotTorchScript(@TempDir Path dir) throws IOException {
        Path pt = Files.write(dir.resolve("decoder.pt"), new byte[] {'n', 'o', 't', ' ', 'a', ' ', 'z', 'i', 'p'});
        assertThatThrownBy(() -> open(pt, "torchscript", Map.of())).isInstanceOf(ArborException.class)
                .hasMessageContaining("needs option 'num_layers'");
        Map<String, Object> layout = Map.of("num_layers", 5, "kv_heads", 4, "head_size", 8, "vocab_size", 512,
                "max_positions", 512, "eos", "1,2");
        assertThatThrownBy(() -> open(pt, "torchscript", layout))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining("as a TorchScript module");
        assertThatThrownBy(() -> open(pt, "torchscript", Map.of("num_layers", 5, "kv_heads", 4, "head_size", 8,
                "vocab_size", 512, "max_positions", 512, "eos", "one")))
                .hasMessageContaining("comma-separated token ids");
    }
}
