package dev.arbor.backend.onnxruntime;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.TensorProto.DataType;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The HF Optimum convention with int64 ids, mask and positions, on a hand-built probe graph whose logits expose
 * exactly what the backend fed: {@code logits[b][j][v] = E[id][v] + sum(attention_mask[b]) + position_ids[b][j]},
 * and whose present KV is the past concatenated with one value per new token.
 */
class OptimumConventionTest {
    private static final int VOCAB = 4;
    private static final float[] E = {0, 10, 20, 30, 100, 110, 120, 130, 200, 210, 220, 230, 300, 310, 320, 330};
    @TempDir
    static Path dir;
    private static Path model;

    private static OnnxMl.ValueInfoProto tensor(String name, DataType type, Object... dims) {
        OnnxMl.TensorShapeProto.Builder shape = OnnxMl.TensorShapeProto.newBuilder();
        for (Object d : dims) {
            shape.addDim(d instanceof Number n
                    ? OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(n.longValue())
                    : OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimParam(d.toString()));
        }
        return OnnxMl.ValueInfoProto.newBuilder().setName(name).setType(OnnxMl.TypeProto.newBuilder()
                .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(shape)))
                .build();
    }

    private static OnnxMl.TensorProto floats(String name, float[] values, long... dims) {
        ByteBuffer raw = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            raw.putFloat(v);
        }
        OnnxMl.TensorProto.Builder t = OnnxMl.TensorProto.newBuilder().setName(name)
                .setDataType(DataType.FLOAT.getNumber()).setRawData(com.google.protobuf.ByteString.copyFrom(raw.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    private static OnnxMl.TensorProto longs(String name, long... values) {
        return OnnxMl.TensorProto.newBuilder().setName(name).setDataType(DataType.INT64.getNumber())
                .addDims(values.length).addAllInt64Data(java.util.Arrays.stream(values).boxed().toList()).build();
    }

    private static OnnxMl.NodeProto node(String op, String out, String... in) {
        return OnnxMl.NodeProto.newBuilder().setOpType(op).setName(out + "_" + op).addOutput(out)
                .addAllInput(java.util.List.of(in)).build();
    }

    @BeforeAll
    static void write() throws Exception {
        float[] kvTable = {0, 1, 2, 3};
        OnnxMl.GraphProto graph = OnnxMl.GraphProto.newBuilder().setName("probe")
                .addInput(tensor("input_ids", DataType.INT64, "batch", "seq"))
                .addInput(tensor("attention_mask", DataType.INT64, "batch", "total"))
                .addInput(tensor("position_ids", DataType.INT64, "batch", "seq"))
                .addInput(tensor("past_key_values.0.key", DataType.FLOAT, "batch", 1, "past", 1))
                .addInput(tensor("past_key_values.0.value", DataType.FLOAT, "batch", 1, "past", 1))
                .addInitializer(floats("E", E, VOCAB, VOCAB))
                .addInitializer(floats("KV", kvTable, VOCAB, 1))
                .addInitializer(longs("axis1", 1))
                .addInitializer(longs("axes2", 2))
                .addNode(node("Gather", "emb", "E", "input_ids"))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Cast").setName("castmask").addInput("attention_mask")
                        .addOutput("maskf").addAttribute(OnnxMl.AttributeProto.newBuilder().setName("to")
                                .setType(OnnxMl.AttributeProto.AttributeType.INT).setI(DataType.FLOAT.getNumber())))
                .addNode(node("ReduceSum", "count", "maskf", "axis1"))
                .addNode(node("Unsqueeze", "count3", "count", "axes2"))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Cast").setName("castpos").addInput("position_ids")
                        .addOutput("posf").addAttribute(OnnxMl.AttributeProto.newBuilder().setName("to")
                                .setType(OnnxMl.AttributeProto.AttributeType.INT).setI(DataType.FLOAT.getNumber())))
                .addNode(node("Unsqueeze", "pos3", "posf", "axes2"))
                .addNode(node("Add", "partial", "emb", "count3"))
                .addNode(node("Add", "logits", "partial", "pos3"))
                .addNode(node("Gather", "kvrow", "KV", "input_ids"))
                .addNode(node("Unsqueeze", "kvnew", "kvrow", "axis1"))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Concat").setName("ck").addInput("past_key_values.0.key")
                        .addInput("kvnew").addOutput("present.0.key").addAttribute(OnnxMl.AttributeProto.newBuilder()
                                .setName("axis").setType(OnnxMl.AttributeProto.AttributeType.INT).setI(2)))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Concat").setName("cv")
                        .addInput("past_key_values.0.value").addInput("kvnew").addOutput("present.0.value")
                        .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("axis")
                                .setType(OnnxMl.AttributeProto.AttributeType.INT).setI(2)))
                .addOutput(tensor("logits", DataType.FLOAT, "batch", "seq", VOCAB))
                .addOutput(tensor("present.0.key", DataType.FLOAT, "batch", 1, "total", 1))
                .addOutput(tensor("present.0.value", DataType.FLOAT, "batch", 1, "total", 1))
                .build();
        OnnxMl.ModelProto proto = OnnxMl.ModelProto.newBuilder().setIrVersion(8).setProducerName("arbor-test")
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(17)).setGraph(graph).build();
        model = dir.resolve("probe.onnx");
        Files.write(model, proto.toByteArray());
    }

    private static OnnxDecoderBackend open() {
        return OnnxDecoderBackend.open(model, Options.of(Map.of("max_positions", 64)), null);
    }

    /** What the probe graph must output for token {@code id} given the mask count and the position. */
    private static float expect(int id, int v, int count, int pos) {
        return E[id * VOCAB + v] + count + pos;
    }

    @Test
    void detectsOptimumWithInt64InputsAndTellsItsCapabilities() {
        try (OnnxDecoderBackend b = open()) {
            DecoderSignature sig = b.signature();
            assertThat(sig.naming).isEqualTo(DecoderSignature.KvNaming.OPTIMUM);
            assertThat(sig.idsType).hasToString("INT64");
            assertThat(sig.maskType).hasToString("INT64");
            assertThat(sig.positionType).hasToString("INT64");
            assertThat(sig.layers).isEqualTo(1);
            assertThat(b.card().vocabSize()).isEqualTo(VOCAB); // from the static logits dimension
            assertThat(b.card().maxPositions()).isEqualTo(64); // from options: no side file, no metadata
            assertThat(b.card().capabilities()).contains(Capability.PADDING)
                    .doesNotContain(Capability.FULL_ATTENTION, Capability.SEGMENT_MASK, Capability.EXPLICIT_MASK);
        }
    }

    @Test
    void feedsMaskAndPositionsForPaddedRowsAcrossSteps() {
        boolean[][] valid = {{true, true, true}, {false, true, true}};
        try (OnnxDecoderBackend b = open(); DecodeState state = b.newState(2)) {
            float[][][] l = b.forward(ForwardRequest.builder(new int[][] {{1, 2, 3}, {0, 2, 3}})
                    .attention(new AttentionSpec.WithPadding(AttentionSpec.CAUSAL, valid)).state(state).build())
                    .logits();
            for (int v = 0; v < VOCAB; v++) {
                assertThat(l[0][2][v]).isEqualTo(expect(3, v, 3, 2));
                assertThat(l[1][0][v]).isEqualTo(expect(0, v, 2, 0)); // padding token: position 0
                assertThat(l[1][1][v]).isEqualTo(expect(2, v, 2, 0)); // first real token: position 0
                assertThat(l[1][2][v]).isEqualTo(expect(3, v, 2, 1));
            }
            float[][][] s = b.forward(ForwardRequest.next(new int[][] {{1}, {1}}, state)).logits();
            assertThat(s[0][0][0]).isEqualTo(expect(1, 0, 4, 3));
            assertThat(s[1][0][0]).isEqualTo(expect(1, 0, 3, 2));
            // After swapping the rows the padding (mask count, positions) moves with its row.
            state.selectRows(new int[] {1, 0});
            float[][][] t = b.forward(ForwardRequest.next(new int[][] {{2}, {2}}, state)).logits();
            assertThat(t[0][0][0]).isEqualTo(expect(2, 0, 4, 3));
            assertThat(t[1][0][0]).isEqualTo(expect(2, 0, 5, 4));
            state.compact(new int[] {1, 2, 3, 4}); // drops row 0's padding slot (and row 1's first token)
            float[][][] u = b.forward(ForwardRequest.next(new int[][] {{3}, {3}}, state)).logits();
            assertThat(u[0][0][0]).isEqualTo(expect(3, 0, 5, 4));
            assertThat(u[1][0][0]).isEqualTo(expect(3, 0, 5, 4));
        }
    }

    @Test
    void defaultPositionsStopAtTheContextLength() {
        try (OnnxDecoderBackend b = OnnxDecoderBackend.open(model, Options.of(Map.of("max_positions", 3)), null);
             DecodeState state = b.newState(1)) {
            b.forward(ForwardRequest.next(new int[][] {{1, 2, 3}}, state));
            assertThatThrownBy(() -> b.forward(ForwardRequest.next(new int[][] {{1}}, state)))
                    .isInstanceOf(ArborException.class).hasMessageContaining("context is full");
        }
    }

    @Test
    void unknownContextLengthAsksForTheOption() {
        assertThatThrownBy(() -> OnnxDecoderBackend.open(model, Options.empty(), null))
                .isInstanceOf(ArborException.class).hasMessageContaining("set option max_positions");
    }
}
