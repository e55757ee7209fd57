package dev.arbor.backend.onnxruntime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.model.StateWrite;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files and requests the backend must refuse, each with a message that names what is wrong. */
class BadInputTest {
    @TempDir
    Path dir;

    private static OnnxMl.ValueInfoProto tensor(String name, OnnxMl.TensorProto.DataType type, Object... dims) {
        OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
        for (Object d : dims) {
            shape.addDim(d instanceof Number n ? OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(n.longValue())
                    : OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimParam(d.toString()));
        }
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
                .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(shape)))
                .build();
    }

    /** A valid ONNX graph whose inputs are {@code input_ids}, {@code token_type_ids} and {@code hidden_cache}. */
    private Path unexpectedNames() throws Exception {
        OnnxMl.GraphProto graph = OnnxMl.GraphProto.newBuilder().setName("odd")
                .addInput(tensor("input_ids", OnnxMl.TensorProto.DataType.INT64, "batch", "seq"))
                .addInput(tensor("token_type_ids", OnnxMl.TensorProto.DataType.INT64, "batch", "seq"))
                .addInput(tensor("hidden_cache", OnnxMl.TensorProto.DataType.FLOAT, "batch", "seq", 8))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Identity").addInput("hidden_cache")
                        .addOutput("logits"))
                .addOutput(tensor("logits", OnnxMl.TensorProto.DataType.FLOAT, "batch", "seq", 8))
                .build();
        OnnxMl.ModelProto model = OnnxMl.ModelProto.newBuilder().setIrVersion(8).setProducerName("arbor-test")
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(17)).setGraph(graph).build();
        Path file = dir.resolve("odd.onnx");
        Files.write(file, model.toByteArray());
        return file;
    }

    @Test
    void unexpectedInputNamesAreListedWithWhatIsExpected() throws Exception {
        Path file = unexpectedNames();
        assertThatThrownBy(() -> OnnxDecoderBackend.open(file, Options.empty(), null))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining(file.toString())
                .hasMessageContaining("token_type_ids, hidden_cache")
                .hasMessageContaining("past_key_values.N.key")
                .hasMessageContaining("past_N")
                // A state input other than LFM2's convolution state is named as such (see ConvStateTest for LFM2).
                .hasMessageContaining("recurrent state beside the attention KV cache")
                .hasMessageContaining("past_conv.N");
    }

    @Test
    void aFileThatIsNotOnnxIsNamed() throws Exception {
        Path file = dir.resolve("notes.onnx");
        Files.writeString(file, "this is not a protobuf model");
        assertThatThrownBy(() -> OnnxDecoderBackend.open(file, Options.empty(), null))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("cannot load '" + file + "' as an ONNX model");
    }

    @Test
    void aMissingFileIsNotFound() {
        Path file = dir.resolve("absent.onnx");
        assertThatThrownBy(() -> OnnxDecoderBackend.open(file, Options.empty(), null))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.NOT_FOUND))
                .hasMessageContaining(file.toString());
    }

    @Test
    void cudaOnACpuOnlyBuildIsAClearErrorNotASilentFallback() {
        Path gpt2 = Gpt2Fixture.gpt2();
        assertThatThrownBy(() -> OnnxDecoderBackend.open(gpt2, Options.of(Map.of("device", "cuda")), null))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("device=cuda")
                .hasMessageContaining("no CUDA execution provider")
                .hasMessageContaining("-Pcuda")
                .hasMessageContaining("allow_cpu_fallback=true");
        try (OnnxDecoderBackend b = OnnxDecoderBackend.open(gpt2,
                Options.of(Map.of("device", "cuda", "allow_cpu_fallback", true)), null)) {
            assertThat(b.device()).startsWith("cpu");
        }
        assertThatThrownBy(() -> OnnxDecoderBackend.open(gpt2, Options.of(Map.of("device", "tpu")), null))
                .isInstanceOf(ArborException.class).hasMessageContaining("'cpu' or 'cuda'");
    }

    @Test
    void maskOnlyModelRefusesSpecsItsGraphCannotExpress() {
        try (OnnxDecoderBackend b = Gpt2Fixture.openGpt2()) {
            assertThatThrownBy(() -> b.forward(ForwardRequest.builder(new int[][] {{1, 2}})
                    .attention(AttentionSpec.FULL).build()))
                    .isInstanceOf(ArborException.class)
                    .hasMessageContaining("Full")
                    .hasMessageContaining("FULL_ATTENTION")
                    .hasMessageContaining("no attention_bias input");
            try (DecodeState s = b.newState(1)) {
                assertThatThrownBy(() -> b.forward(ForwardRequest.builder(new int[][] {{1}}).state(s)
                        .write(new StateWrite.At(new int[] {0})).build()))
                        .isInstanceOf(ArborException.class).hasMessageContaining("StateWrite.At");
                assertThatThrownBy(() -> b.forward(ForwardRequest.builder(new int[][] {{1}, {2}}).state(s).build()))
                        .isInstanceOf(ArborException.class).hasMessageContaining("2 rows but the decode state has 1");
            }
            assertThatThrownBy(() -> b.forward(ForwardRequest.builder(new int[][] {{1000}}).build()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("outside the vocabulary [0, 1000)");
            assertThatThrownBy(() -> b.forward(ForwardRequest.builder(new int[][] {{1}})
                    .positions(new int[][] {{512}}).build()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("outside the context [0, 512)");
        }
    }

    @Test
    void unknownFormatIsRefusedByTheProvider() {
        assertThatThrownBy(() -> new OnnxRuntimeBackendProvider().open(new ModelSpec(dir, "gguf", null)))
                .isInstanceOf(ArborException.class).hasMessageContaining("'gguf'").hasMessageContaining("onnx");
    }

    @Test
    void closedBackendAndClosedStateFailClearly() {
        OnnxDecoderBackend b = Gpt2Fixture.openGpt2();
        DecodeState s = b.newState(1);
        b.forward(ForwardRequest.next(new int[][] {{1, 2}}, s));
        b.close();
        b.close(); // idempotent
        assertThatThrownBy(() -> b.forward(ForwardRequest.builder(new int[][] {{1}}).build()))
                .isInstanceOf(ArborException.class).hasMessageContaining("was closed");
        s.close();
        s.close();
        assertThatThrownBy(() -> s.truncate(0)).isInstanceOf(ArborException.class).hasMessageContaining("closed");
    }
}
