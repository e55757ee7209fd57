package dev.arbor.distribution;

import ai.onnx.proto.OnnxMl;

/** A valid ONNX model that is not a decoder (one Identity node from {@code x_in} to {@code y_out}). */
final class OddOnnx {
    private OddOnnx() {
    }

    static byte[] identityModel() {
        OnnxMl.TypeProto type = OnnxMl.TypeProto.newBuilder().setTensorType(OnnxMl.TypeProto.Tensor.newBuilder()
                .setElemType(OnnxMl.TensorProto.DataType.FLOAT.getNumber())
                .setShape(OnnxMl.TensorShapeProto.newBuilder().addDim(
                        OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(1)))).build();
        OnnxMl.GraphProto graph = OnnxMl.GraphProto.newBuilder().setName("identity")
                .addInput(OnnxMl.ValueInfoProto.newBuilder().setName("x_in").setType(type))
                .addOutput(OnnxMl.ValueInfoProto.newBuilder().setName("y_out").setType(type))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Identity").addInput("x_in").addOutput("y_out"))
                .build();
        return OnnxMl.ModelProto.newBuilder().setIrVersion(8).setProducerName("arbor-test").setGraph(graph)
                .addOpsetImport(OnnxMl.OperatorSetIdProto.newBuilder().setVersion(17)).build().toByteArray();
    }
}
