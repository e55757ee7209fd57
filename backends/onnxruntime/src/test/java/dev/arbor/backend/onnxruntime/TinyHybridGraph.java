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
 * A small random-weight hybrid decoder in onnxruntime-genai's LFM2 convention, written for tests whose results
 * depend on the convolution state (the shared {@code tiny-random-lfm2} passes its state through unchanged and its
 * logits depend on the current token only, so it cannot tell a carried state from a lost one). Layers 0 and 2 are
 * causal depthwise convolutions over a rolling window: {@code cat = [past_conv.N, x^T]} ([batch, hidden, cache + seq]),
 * {@code present_conv.N} = its last {@code cache} columns, {@code x += tanh(Conv(cat, kernel cache + 1,
 * group = hidden))^T Wp}. Layers 1 and 3 are multi-head attention over {@code past_key_values.N.key/value} with a
 * causal mask offset by the past length and {@code attention_mask}. Token plus learned position embeddings in,
 * {@code logits = x Wout} out; input_ids, position_ids and attention_mask are int64 as in the LFM2 export.
 */
final class TinyHybridGraph {
    static final int VOCAB = 40;
    static final int HIDDEN = 16;
    static final int HEADS = 2;
    static final int HEAD_DIM = HIDDEN / HEADS;
    static final int CACHE = 4;
    static final int MAX_POSITIONS = 256;
    static final String[] LAYER_TYPES = {"conv", "full_attention", "conv", "full_attention"};

    private TinyHybridGraph() {
    }

    /** Writes the graph (seeded weights) to {@code dir/hybrid.onnx}. */
    static Path write(Path dir, long seed) throws IOException {
        return write(dir, seed, null);
    }

    /** As {@link #write(Path, long)}; {@code missingOutput} (e.g. {@code present_conv.2}) is left out of the outputs. */
    static Path write(Path dir, long seed, String missingOutput) throws IOException {
        Random rnd = new Random(seed);
        OnnxMl.GraphProto.Builder g = OnnxMl.GraphProto.newBuilder().setName("tiny-hybrid");
        g.addInput(tensor("input_ids", DataType.INT64, "batch", "seq"));
        g.addInput(tensor("position_ids", DataType.INT64, "batch", "seq"));
        g.addInput(tensor("attention_mask", DataType.INT64, "batch", "total"));
        g.addInitializer(weights("E", rnd, 1f, VOCAB, HIDDEN));
        g.addInitializer(weights("P", rnd, 0.5f, MAX_POSITIONS, HIDDEN));
        g.addInitializer(ints("i0", new long[0], 0));
        g.addInitializer(ints("i1", new long[0], 1));
        g.addInitializer(ints("axis0", new long[] {1}, 0));
        g.addInitializer(ints("axis1", new long[] {1}, 1));
        g.addInitializer(ints("axes12", new long[] {2}, 1, 2));
        g.addInitializer(ints("sliceStart", new long[] {1}, -CACHE));
        g.addInitializer(ints("sliceEnd", new long[] {1}, Long.MAX_VALUE));
        g.addInitializer(ints("axis2", new long[] {1}, 2));
        g.addInitializer(ints("headsShape", new long[] {4}, 0, 0, HEADS, HEAD_DIM));
        g.addInitializer(ints("hiddenShape", new long[] {3}, 0, 0, HIDDEN));
        g.addInitializer(scalar("scale", (float) (1 / Math.sqrt(HEAD_DIM))));
        g.addInitializer(scalar("hidden", -1e9f));
        g.addNode(node("Gather", new String[] {"E", "input_ids"}, new String[] {"tok"}));
        g.addNode(node("Gather", new String[] {"P", "position_ids"}, new String[] {"pos"}));
        g.addNode(node("Add", new String[] {"tok", "pos"}, new String[] {"x0"}));
        // Visibility [batch, 1, seq, total]: key k <= past + query j, and attention_mask[k] = 1.
        g.addNode(node("Shape", new String[] {"attention_mask"}, new String[] {"maskShape"}));
        g.addNode(node("Gather", new String[] {"maskShape", "i1"}, new String[] {"T"}));
        g.addNode(node("Shape", new String[] {"input_ids"}, new String[] {"idsShape"}));
        g.addNode(node("Gather", new String[] {"idsShape", "i1"}, new String[] {"S"}));
        g.addNode(node("Sub", new String[] {"T", "S"}, new String[] {"pastLen"}));
        g.addNode(node("Range", new String[] {"i0", "T", "i1"}, new String[] {"kpos"}));
        g.addNode(node("Range", new String[] {"pastLen", "T", "i1"}, new String[] {"qpos"}));
        g.addNode(node("Unsqueeze", new String[] {"kpos", "axis0"}, new String[] {"kpos2"}));
        g.addNode(node("Unsqueeze", new String[] {"qpos", "axis1"}, new String[] {"qpos2"}));
        g.addNode(node("LessOrEqual", new String[] {"kpos2", "qpos2"}, new String[] {"causal"}));
        g.addNode(node("Cast", new String[] {"attention_mask"}, new String[] {"maskBool"}).toBuilder()
                .addAttribute(intAttr("to", DataType.BOOL.getNumber())).build());
        g.addNode(node("Unsqueeze", new String[] {"maskBool", "axes12"}, new String[] {"mask4"}));
        g.addNode(node("And", new String[] {"causal", "mask4"}, new String[] {"visible"}));
        String x = "x0";
        for (int l = 0; l < LAYER_TYPES.length; l++) {
            String out = "x" + (l + 1);
            if (LAYER_TYPES[l].equals("conv")) {
                String past = "past_conv." + l;
                String present = "present_conv." + l;
                g.addInput(tensor(past, DataType.FLOAT, "batch", HIDDEN, CACHE));
                if (!present.equals(missingOutput)) {
                    g.addOutput(tensor(present, DataType.FLOAT, "batch", HIDDEN, CACHE));
                }
                g.addInitializer(weights("Wc" + l, rnd, 0.7f, HIDDEN, 1, CACHE + 1));
                g.addInitializer(weights("Wp" + l, rnd, (float) (1 / Math.sqrt(HIDDEN)), HIDDEN, HIDDEN));
                g.addNode(node("Transpose", new String[] {x}, new String[] {"xt" + l}).toBuilder()
                        .addAttribute(intsAttr("perm", 0, 2, 1)).build());
                g.addNode(node("Concat", new String[] {past, "xt" + l}, new String[] {"cat" + l}).toBuilder()
                        .addAttribute(intAttr("axis", 2)).build());
                g.addNode(node("Slice", new String[] {"cat" + l, "sliceStart", "sliceEnd", "axis2"},
                        new String[] {present}));
                g.addNode(node("Conv", new String[] {"cat" + l, "Wc" + l}, new String[] {"conv" + l}).toBuilder()
                        .addAttribute(intAttr("group", HIDDEN)).build());
                g.addNode(node("Tanh", new String[] {"conv" + l}, new String[] {"act" + l}));
                g.addNode(node("Transpose", new String[] {"act" + l}, new String[] {"actT" + l}).toBuilder()
                        .addAttribute(intsAttr("perm", 0, 2, 1)).build());
                g.addNode(node("MatMul", new String[] {"actT" + l, "Wp" + l}, new String[] {"proj" + l}));
                g.addNode(node("Add", new String[] {x, "proj" + l}, new String[] {out}));
            } else {
                String pk = "past_key_values." + l + ".key";
                String pv = "past_key_values." + l + ".value";
                g.addInput(tensor(pk, DataType.FLOAT, "batch", HEADS, "past", HEAD_DIM));
                g.addInput(tensor(pv, DataType.FLOAT, "batch", HEADS, "past", HEAD_DIM));
                g.addOutput(tensor("present." + l + ".key", DataType.FLOAT, "batch", HEADS, "total", HEAD_DIM));
                g.addOutput(tensor("present." + l + ".value", DataType.FLOAT, "batch", HEADS, "total", HEAD_DIM));
                float scale = (float) (1 / Math.sqrt(HIDDEN));
                for (String w : new String[] {"Wq", "Wk", "Wv", "Wo"}) {
                    g.addInitializer(weights(w + l, rnd, scale, HIDDEN, HIDDEN));
                }
                for (String p : new String[] {"q", "k", "v"}) {
                    String w = "W" + p + l;
                    g.addNode(node("MatMul", new String[] {x, w}, new String[] {p + "Flat" + l}));
                    g.addNode(node("Reshape", new String[] {p + "Flat" + l, "headsShape"},
                            new String[] {p + "Heads" + l}));
                    g.addNode(node("Transpose", new String[] {p + "Heads" + l}, new String[] {p + l}).toBuilder()
                            .addAttribute(intsAttr("perm", 0, 2, 1, 3)).build());
                }
                g.addNode(node("Concat", new String[] {pk, "k" + l}, new String[] {"present." + l + ".key"})
                        .toBuilder().addAttribute(intAttr("axis", 2)).build());
                g.addNode(node("Concat", new String[] {pv, "v" + l}, new String[] {"present." + l + ".value"})
                        .toBuilder().addAttribute(intAttr("axis", 2)).build());
                g.addNode(node("Transpose", new String[] {"present." + l + ".key"}, new String[] {"kT" + l})
                        .toBuilder().addAttribute(intsAttr("perm", 0, 1, 3, 2)).build());
                g.addNode(node("MatMul", new String[] {"q" + l, "kT" + l}, new String[] {"raw" + l}));
                g.addNode(node("Mul", new String[] {"raw" + l, "scale"}, new String[] {"scores" + l}));
                g.addNode(node("Where", new String[] {"visible", "scores" + l, "hidden"},
                        new String[] {"masked" + l}));
                g.addNode(node("Softmax", new String[] {"masked" + l}, new String[] {"probs" + l}).toBuilder()
                        .addAttribute(intAttr("axis", -1)).build());
                g.addNode(node("MatMul", new String[] {"probs" + l, "present." + l + ".value"},
                        new String[] {"ctx" + l}));
                g.addNode(node("Transpose", new String[] {"ctx" + l}, new String[] {"ctxT" + l}).toBuilder()
                        .addAttribute(intsAttr("perm", 0, 2, 1, 3)).build());
                g.addNode(node("Reshape", new String[] {"ctxT" + l, "hiddenShape"}, new String[] {"ctxFlat" + l}));
                g.addNode(node("MatMul", new String[] {"ctxFlat" + l, "Wo" + l}, new String[] {"o" + l}));
                g.addNode(node("Add", new String[] {x, "o" + l}, new String[] {out}));
            }
            x = out;
        }
        g.addInitializer(weights("Wout", rnd, (float) (2 / Math.sqrt(HIDDEN)), HIDDEN, VOCAB));
        g.addNode(node("MatMul", new String[] {x, "Wout"}, new String[] {"logits"}));
        g.addOutput(tensor("logits", DataType.FLOAT, "batch", "seq", VOCAB));
        OnnxMl.ModelProto proto = OnnxMl.ModelProto.newBuilder().setIrVersion(8).setProducerName("arbor-test")
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(17))
                .addMetadataProps(meta("arbor.vocab_size", Integer.toString(VOCAB)))
                .addMetadataProps(meta("arbor.max_positions", Integer.toString(MAX_POSITIONS)))
                .addMetadataProps(meta("arbor.hidden_size", Integer.toString(HIDDEN)))
                .addMetadataProps(meta("arbor.name", "tiny-hybrid"))
                .setGraph(g).build();
        Path file = dir.resolve(missingOutput == null ? "hybrid.onnx" : "hybrid-without-" + missingOutput + ".onnx");
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

    private static OnnxMl.AttributeProto intsAttr(String name, long... v) {
        OnnxMl.AttributeProto.Builder a = OnnxMl.AttributeProto.newBuilder().setName(name)
                .setType(OnnxMl.AttributeProto.AttributeType.INTS);
        for (long x : v) {
            a.addInts(x);
        }
        return a.build();
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

    private static OnnxMl.ValueInfoProto tensor(String name, DataType type, Object... dims) {
        return TinyFusedGraph.tensor(name, type, dims);
    }

    private static OnnxMl.TensorProto ints(String name, long[] dims, long... values) {
        OnnxMl.TensorProto.Builder t = OnnxMl.TensorProto.newBuilder().setName(name)
                .setDataType(DataType.INT64.getNumber());
        for (long d : dims) {
            t.addDims(d);
        }
        for (long v : values) {
            t.addInt64Data(v);
        }
        return t.build();
    }

    private static OnnxMl.TensorProto scalar(String name, float value) {
        return OnnxMl.TensorProto.newBuilder().setName(name).setDataType(DataType.FLOAT.getNumber())
                .addFloatData(value).build();
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
