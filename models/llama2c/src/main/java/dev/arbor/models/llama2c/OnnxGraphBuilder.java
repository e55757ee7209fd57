package dev.arbor.models.llama2c;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** A small builder over tribuo-util-onnx's OnnxMl protobuf classes: unique names, initializers, typed I/O. */
final class OnnxGraphBuilder {
    /** The domain of ONNX Runtime's contrib operators. */
    static final String MS_DOMAIN = "com.microsoft";

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private int counter;

    /**
     * The named graph; refuses an initializer that no node reads (a converter bug: ONNX Runtime would warn about
     * it on every load).
     */
    GraphProto.Builder finish(String name) {
        Set<String> read = new HashSet<>();
        graph.getNodeList().forEach(n -> read.addAll(n.getInputList()));
        List<String> unused = graph.getInitializerList().stream().map(TensorProto::getName)
                .filter(i -> !read.contains(i)).toList();
        if (!unused.isEmpty()) {
            throw new IllegalStateException("the llama2.c converter declared initializers no node reads: " + unused);
        }
        return graph.setName(name);
    }

    String node(String op, List<String> inputs, AttributeProto... attributes) {
        return nodeNamed(op, inputs, op.toLowerCase() + "_" + (counter++), attributes);
    }

    String nodeNamed(String op, List<String> inputs, String output, AttributeProto... attributes) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(output + "_node").addOutput(output);
        inputs.forEach(n::addInput);
        for (AttributeProto a : attributes) {
            n.addAttribute(a);
        }
        graph.addNode(n);
        return output;
    }

    /** A fresh unique value name starting with {@code base}. */
    String fresh(String base) {
        return base + "_" + (counter++);
    }

    /**
     * A node of {@code domain} ("" = ONNX) whose outputs are named {@code outputs}; an empty output name leaves that
     * optional output unused, an empty input name skips that optional input.
     */
    void nodeIn(String domain, String op, List<String> inputs, List<String> outputs, AttributeProto... attributes) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setDomain(domain)
                .setName(fresh(op.toLowerCase()) + "_node");
        inputs.forEach(n::addInput);
        outputs.forEach(n::addOutput);
        for (AttributeProto a : attributes) {
            n.addAttribute(a);
        }
        graph.addNode(n);
    }

    /** A one-output node of {@code domain}; returns the output's name. */
    String nodeIn(String domain, String op, List<String> inputs, AttributeProto... attributes) {
        String out = fresh(op.toLowerCase());
        nodeIn(domain, op, inputs, List.of(out), attributes);
        return out;
    }

    List<String> nodes(String op, List<String> inputs, int outputs, AttributeProto... attributes) {
        String base = op.toLowerCase() + "_" + (counter++);
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(base + "_node");
        inputs.forEach(n::addInput);
        String[] names = new String[outputs];
        for (int i = 0; i < outputs; i++) {
            names[i] = base + "_" + i;
            n.addOutput(names[i]);
        }
        for (AttributeProto a : attributes) {
            n.addAttribute(a);
        }
        graph.addNode(n);
        return List.of(names);
    }

    void floats(String name, float[] values, long... dims) {
        ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(values);
        TensorProto.Builder t = TensorProto.newBuilder().setName(name)
                .setDataType(TensorProto.DataType.FLOAT.getNumber()).setRawData(ByteString.copyFrom(buf.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        graph.addInitializer(t);
    }

    /** A uint8 initializer of the given shape. */
    void bytes(String name, byte[] values, long... dims) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name)
                .setDataType(TensorProto.DataType.UINT8.getNumber()).setRawData(ByteString.copyFrom(values));
        for (long d : dims) {
            t.addDims(d);
        }
        graph.addInitializer(t);
    }

    void longs(String name, long... values) {
        ByteBuffer buf = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        buf.asLongBuffer().put(values);
        graph.addInitializer(TensorProto.newBuilder().setName(name)
                .setDataType(TensorProto.DataType.INT64.getNumber()).addDims(values.length)
                .setRawData(ByteString.copyFrom(buf.array())));
    }

    void input(String name, TensorProto.DataType type, Object... dims) {
        graph.addInput(valueInfo(name, type, dims));
    }

    /** A graph input with no dimensions (a scalar). */
    void scalarInput(String name, TensorProto.DataType type) {
        graph.addInput(valueInfo(name, type));
    }

    void output(String name, Object... dims) {
        graph.addOutput(valueInfo(name, TensorProto.DataType.FLOAT, dims));
    }

    private static ValueInfoProto valueInfo(String name, TensorProto.DataType type, Object... dims) {
        TensorShapeProto.Builder shape = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            if (d instanceof String s) {
                shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimParam(s));
            } else {
                shape.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(((Number) d).longValue()));
            }
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(type.getNumber()).setShape(shape))).build();
    }

    static AttributeProto ints(String name, long... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    static AttributeProto floatAttr(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value)
                .build();
    }

    static AttributeProto intAttr(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }
}
