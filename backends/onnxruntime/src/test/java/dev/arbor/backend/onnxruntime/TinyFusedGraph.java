package dev.arbor.backend.onnxruntime;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.TensorProto.DataType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * A small random-weight decoder in the fused convention, written for tests that need no converter: per layer
 * {@code x += GroupQueryAttention(x Wq, x Wk, x Wv, past, seqlens_k, total_sequence_length) Wo} over token plus learned
 * position embeddings, then {@code logits = x Wout}. Inputs and outputs follow the fused contract (input_ids and
 * position_ids int64, seqlens_k int32 [batch], total_sequence_length int32 scalar, past_key_values.N.key/value
 * [batch, kv_heads, max_positions, head_dim], present.N.key/value, logits) and its metadata says
 * {@code arbor.graph=fused}. Four query heads over two KV heads, so the grouping is exercised.
 */
final class TinyFusedGraph {
    static final int VOCAB = 48;
    static final int HIDDEN = 32;
    static final int HEADS = 4;
    static final int KV_HEADS = 2;
    static final int HEAD_DIM = 8;
    static final int LAYERS = 2;
    static final int MAX_POSITIONS = 96;

    private TinyFusedGraph() {
    }

    /** Writes the graph (seeded weights) to {@code dir/fused.onnx}; {@code extraInput} adds an unknown input. */
    static Path write(Path dir, long seed, String extraInput) throws IOException {
        return write(dir, seed, extraInput, false);
    }

    /**
     * As {@link #write(Path, long, String)}; with {@code bias} the graph also takes attention_bias [batch, 1, seq,
     * total_sequence_length], GroupQueryAttention's input 10 (added to the scores on top of its causal mask).
     */
    static Path write(Path dir, long seed, String extraInput, boolean bias) throws IOException {
        return write(dir, seed, extraInput, bias, "past");
    }

    /** As {@link #write(Path, long, String, boolean)} with the KV inputs' sequence axis {@code pastDim}. */
    static Path write(Path dir, long seed, String extraInput, boolean bias, Object pastDim) throws IOException {
        Random rnd = new Random(seed);
        OnnxMl.GraphProto.Builder g = OnnxMl.GraphProto.newBuilder().setName("tiny-fused");
        g.addInput(tensor("input_ids", DataType.INT64, "batch", "seq"));
        g.addInput(tensor("position_ids", DataType.INT64, "batch", "seq"));
        g.addInput(tensor("seqlens_k", DataType.INT32, "batch"));
        g.addInput(tensor("total_sequence_length", DataType.INT32));
        if (extraInput != null) {
            g.addInput(tensor(extraInput, DataType.FLOAT, "batch", 4));
        }
        if (bias) {
            g.addInput(tensor("attention_bias", DataType.FLOAT, "batch", 1, "seq", "total"));
        }
        g.addInitializer(weights("E", rnd, 1f, VOCAB, HIDDEN));
        g.addInitializer(weights("P", rnd, 0.5f, MAX_POSITIONS, HIDDEN));
        g.addNode(node("Gather", new String[] {"E", "input_ids"}, new String[] {"tok"}));
        g.addNode(node("Gather", new String[] {"P", "position_ids"}, new String[] {"pos"}));
        g.addNode(node("Add", new String[] {"tok", "pos"}, new String[] {"x0"}));
        String x = "x0";
        for (int l = 0; l < LAYERS; l++) {
            String pk = "past_key_values." + l + ".key";
            String pv = "past_key_values." + l + ".value";
            g.addInput(tensor(pk, DataType.FLOAT, "batch", KV_HEADS, pastDim, HEAD_DIM));
            g.addInput(tensor(pv, DataType.FLOAT, "batch", KV_HEADS, pastDim, HEAD_DIM));
            g.addOutput(tensor("present." + l + ".key", DataType.FLOAT, "batch", KV_HEADS, "present", HEAD_DIM));
            g.addOutput(tensor("present." + l + ".value", DataType.FLOAT, "batch", KV_HEADS, "present", HEAD_DIM));
            float scale = (float) (1 / Math.sqrt(HIDDEN));
            g.addInitializer(weights("Wq" + l, rnd, scale, HIDDEN, HEADS * HEAD_DIM));
            g.addInitializer(weights("Wk" + l, rnd, scale, HIDDEN, KV_HEADS * HEAD_DIM));
            g.addInitializer(weights("Wv" + l, rnd, scale, HIDDEN, KV_HEADS * HEAD_DIM));
            g.addInitializer(weights("Wo" + l, rnd, scale, HEADS * HEAD_DIM, HIDDEN));
            g.addNode(node("MatMul", new String[] {x, "Wq" + l}, new String[] {"q" + l}));
            g.addNode(node("MatMul", new String[] {x, "Wk" + l}, new String[] {"k" + l}));
            g.addNode(node("MatMul", new String[] {x, "Wv" + l}, new String[] {"v" + l}));
            String[] gqaInputs = bias ? new String[] {"q" + l, "k" + l, "v" + l, pk, pv, "seqlens_k",
                "total_sequence_length", "", "", "", "attention_bias"} : new String[] {"q" + l, "k" + l, "v" + l, pk,
                pv, "seqlens_k", "total_sequence_length"};
            g.addNode(node("GroupQueryAttention", gqaInputs, new String[] {"a" + l, "present." + l + ".key",
                    "present." + l + ".value"}).toBuilder().setDomain("com.microsoft")
                    .addAttribute(intAttr("num_heads", HEADS)).addAttribute(intAttr("kv_num_heads", KV_HEADS))
                    .build());
            g.addNode(node("MatMul", new String[] {"a" + l, "Wo" + l}, new String[] {"o" + l}));
            g.addNode(node("Add", new String[] {x, "o" + l}, new String[] {"x" + (l + 1)}));
            x = "x" + (l + 1);
        }
        g.addInitializer(weights("Wout", rnd, (float) (1 / Math.sqrt(HIDDEN)), HIDDEN, VOCAB));
        g.addNode(node("MatMul", new String[] {x, "Wout"}, new String[] {"logits"}));
        g.addOutput(tensor("logits", DataType.FLOAT, "batch", "seq", VOCAB));
        OnnxMl.ModelProto proto = OnnxMl.ModelProto.newBuilder().setIrVersion(8).setProducerName("arbor-test")
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(17))
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
                .addMetadataProps(meta("arbor.graph", "fused"))
                .addMetadataProps(meta("arbor.vocab_size", Integer.toString(VOCAB)))
                .addMetadataProps(meta("arbor.max_positions", Integer.toString(MAX_POSITIONS)))
                .addMetadataProps(meta("arbor.hidden_size", Integer.toString(HIDDEN)))
                .addMetadataProps(meta("arbor.num_kv_heads", Integer.toString(KV_HEADS)))
                .addMetadataProps(meta("arbor.head_dim", Integer.toString(HEAD_DIM)))
                .addMetadataProps(meta("arbor.name", "tiny-fused"))
                .setGraph(g).build();
        Path file = dir.resolve((extraInput == null ? "fused" : "fused-extra") + (bias ? "-bias" : "")
                + ("past".equals(pastDim) ? "" : "-" + pastDim) + ".onnx");
        Files.write(file, proto.toByteArray());
        return file;
    }

    private static OnnxMl.StringStringEntryProto meta(String key, String value) {
        return OnnxMl.StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }

    private static OnnxMl.AttributeProto intAttr(String name, long v) {
        return OnnxMl.AttributeProto.newBuilder().setName(name).setType(OnnxMl.AttributeProto.AttributeType.INT)
                .setI(v).build();
    }

    private static OnnxMl.NodeProto node(String op, String[] in, String[] out) {
        OnnxMl.NodeProto.Builder n = OnnxMl.NodeProto.newBuilder().setOpType(op).setName(out[0] + "_" + op);
        for (String i : in) {
            n.addInput(i);
        }
        for (String o : out) {
            n.addOutput(o);
        }
        return n.build();
    }

    static OnnxMl.ValueInfoProto tensor(String name, DataType type, Object... dims) {
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

    private static OnnxMl.TensorProto weights(String name, Random rnd, float scale, long... dims) {
        int n = 1;
        for (long d : dims) {
            n *= (int) d;
        }
        ByteBuffer raw = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            raw.putFloat((float) rnd.nextGaussian() * scale);
        }
        OnnxMl.TensorProto.Builder t = OnnxMl.TensorProto.newBuilder().setName(name)
                .setDataType(DataType.FLOAT.getNumber())
                .setRawData(com.google.protobuf.ByteString.copyFrom(raw.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }
}
