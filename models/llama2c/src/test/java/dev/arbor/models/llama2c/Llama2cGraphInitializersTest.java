package dev.arbor.models.llama2c;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.InvalidProtocolBufferException;
import java.util.HashSet;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every initializer of every converted graph variant is read by some node: ONNX Runtime warns about (and drops)
 * each unused one on every load, which users saw as noise on every run.
 */
class Llama2cGraphInitializersTest {

    static Stream<Arguments> variants() {
        // dim, hidden, layers, heads, kv heads, vocab, seq, shared classifier
        List<Llama2cConfig> configs = List.of(
                new Llama2cConfig(32, 40, 2, 4, 4, 60, 32, true),    // multi-head attention (kv_mul 1)
                new Llama2cConfig(32, 40, 2, 4, 2, 60, 32, false),   // grouped-query attention, own classifier
                new Llama2cConfig(32, 40, 2, 4, 1, 60, 32, true));   // multi-query attention
        Stream<Arguments> random = configs.stream().flatMap(c -> Stream.of(0, 1).flatMap(keep -> Stream.of(
                NativeAttention.values()).map(attention -> Arguments.of("random kv_mul " + c.kvMul()
                + (c.sharedClassifier() ? " shared" : " own") + " classifier", Llama2cCheckpoint.random(c, 3), keep,
                attention))));
        Llama2cCheckpoint stories = Llama2cCheckpoint.read(Stories260K.checkpoint());
        return Stream.concat(random, Stream.of(0, 1, 2).map(keep -> Arguments.of("stories260K", stories, keep,
                NativeAttention.CAUSAL)));
    }

    @ParameterizedTest(name = "{0}, keep_layers={2}, {3}")
    @MethodSource("variants")
    void everyInitializerIsReadByANodeAndTheGraphLoads(String label, Llama2cCheckpoint weights, int keepLayers,
                                                       NativeAttention attention)
            throws InvalidProtocolBufferException, OrtException {
        Llama2cModelCard card = new Llama2cModelCard("test", OptionalInt.of(1), new int[] {1}, OptionalInt.empty(),
                OptionalInt.empty(), LogitAlignment.NEXT, attention,
                attention == NativeAttention.BLOCK_CAUSAL ? 4 : 0, "");
        byte[] onnx = Llama2cOnnxConverter.toOnnx(weights, keepLayers, "test", card);
        ModelProto model = ModelProto.parseFrom(onnx);
        Set<String> read = new HashSet<>();
        for (NodeProto n : model.getGraph().getNodeList()) {
            read.addAll(n.getInputList());
        }
        List<String> unused = model.getGraph().getInitializerList().stream().map(TensorProto::getName)
                .filter(name -> !read.contains(name)).toList();
        assertThat(unused).as("initializers no node reads (kv_mul %d)", weights.config().kvMul()).isEmpty();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(onnx, new OrtSession.SessionOptions())) {
            assertThat(s.getOutputNames()).contains("logits");
        }
    }

    static Stream<Arguments> fusedVariants() {
        List<Llama2cConfig> configs = List.of(
                new Llama2cConfig(32, 40, 2, 4, 4, 60, 32, true),    // multi-head attention, K=40 padded to blocks
                new Llama2cConfig(32, 40, 2, 4, 2, 60, 32, false),   // grouped-query attention, own classifier
                new Llama2cConfig(32, 40, 2, 4, 1, 60, 32, true));   // multi-query attention
        return configs.stream().flatMap(c -> Stream.of(Llama2cPrecision.FUSED_FP32, Llama2cPrecision.FUSED_INT8,
                Llama2cPrecision.FUSED_INT4).flatMap(p -> Stream.of(0, 1).map(keep -> Arguments.of("kv_mul "
                + c.kvMul() + (c.sharedClassifier() ? " shared" : " own") + " classifier", Llama2cCheckpoint.random(c,
                3), keep, p))));
    }

    @ParameterizedTest(name = "fused {0}, keep_layers={2}, {3}")
    @MethodSource("fusedVariants")
    void everyFusedGraphReadsAllItsInitializersAndLoads(String label, Llama2cCheckpoint weights, int keepLayers,
                                                         Llama2cPrecision precision)
            throws InvalidProtocolBufferException, OrtException {
        Llama2cModelCard card = new Llama2cModelCard("test", OptionalInt.of(1), new int[] {1}, OptionalInt.empty(),
                OptionalInt.empty(), LogitAlignment.NEXT, NativeAttention.CAUSAL, 0, "");
        byte[] onnx = Llama2cOnnxConverter.toOnnx(weights, keepLayers, "test", card, precision);
        ModelProto model = ModelProto.parseFrom(onnx);
        Set<String> read = new HashSet<>();
        for (NodeProto n : model.getGraph().getNodeList()) {
            read.addAll(n.getInputList());
        }
        assertThat(model.getGraph().getInitializerList().stream().map(TensorProto::getName)
                .filter(name -> !read.contains(name)).toList()).isEmpty();
        int layers = keepLayers == 0 ? weights.config().nLayers() : keepLayers;
        try (OrtSession s = OrtEnvironment.getEnvironment().createSession(onnx, new OrtSession.SessionOptions())) {
            assertThat(s.getMetadata().getCustomMetadata()).containsEntry("arbor.precision", precision.precision())
                    .containsEntry("arbor.num_layers", String.valueOf(layers));
            assertThat(s.getInputNames()).hasSize(5 + 2 * layers);
        }
    }

    @ParameterizedTest(name = "{0} attention")
    @org.junit.jupiter.params.provider.EnumSource(value = NativeAttention.class, names = {"BIDIRECTIONAL",
            "BLOCK_CAUSAL"})
    void aFusedGraphOfANonCausalModelIsRefusedWithTheWayOut(NativeAttention attention) {
        Llama2cModelCard card = new Llama2cModelCard("test", OptionalInt.of(1), new int[] {1}, OptionalInt.empty(),
                OptionalInt.empty(), LogitAlignment.NEXT, attention, attention == NativeAttention.BLOCK_CAUSAL ? 4 : 0,
                "");
        Llama2cCheckpoint w = Llama2cCheckpoint.random(new Llama2cConfig(32, 40, 1, 4, 4, 60, 32, true), 3);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Llama2cOnnxConverter.toOnnx(w, 0, "test", card,
                        Llama2cPrecision.FUSED_INT4))
                .isInstanceOf(dev.arbor.api.ArborException.class).hasMessageContaining(attention.name())
                .hasMessageContaining("graph=reference precision=fp32");
    }
}
