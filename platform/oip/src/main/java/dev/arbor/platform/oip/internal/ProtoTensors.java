package dev.arbor.platform.oip.internal;

import com.google.protobuf.ByteString;
import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.Tensor;
import dev.arbor.platform.oip.grpc.InferParameter;
import dev.arbor.platform.oip.grpc.InferTensorContents;
import dev.arbor.platform.oip.grpc.ModelInferRequest;
import dev.arbor.platform.oip.grpc.ModelInferResponse;
import dev.arbor.platform.oip.server.TensorChecks;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Converts the protocol's gRPC messages to {@link Tensor}s and back. Inputs come in their typed {@code contents}
 * field or, as Triton's clients send them, in {@code raw_input_contents} (little-endian; a BYTES element is a 4-byte
 * length and its bytes); either way the element count must be what the shape holds. Each failure names the field.
 */
final class ProtoTensors {
    /** The datatypes this server carries, with the Java arrays {@link Tensor} holds them in. */
    static final List<String> CARRIED = List.of("BOOL", "INT32", "INT64", "FP32", "FP64", "BYTES");

    private ProtoTensors() {
    }

    static InferRequest request(ModelInferRequest m, long deadlineMillis, long maxElements)
            throws InferenceException {
        boolean raw = m.getRawInputContentsCount() > 0;
        if (raw && m.getRawInputContentsCount() != m.getInputsCount()) {
            throw TensorChecks.invalid("raw_input_contents", "holds " + m.getRawInputContentsCount()
                    + " entries for " + m.getInputsCount() + " inputs; give one per input, in order");
        }
        List<Tensor> inputs = new ArrayList<>();
        for (int i = 0; i < m.getInputsCount(); i++) {
            ModelInferRequest.InferInputTensor in = m.getInputs(i);
            String field = "inputs[" + i + "]";
            if (in.getName().isEmpty()) {
                throw TensorChecks.invalid(field + ".name", "an input needs a name");
            }
            TensorChecks.datatype(field + ".datatype", in.getDatatype());
            if (!CARRIED.contains(in.getDatatype())) {
                throw TensorChecks.invalid(field + ".datatype", in.getDatatype() + " is not carried by this server;"
                        + " it carries " + String.join(", ", CARRIED));
            }
            long count = TensorChecks.elementCount(field + ".shape", in.getShapeList(), maxElements);
            if (raw && in.hasContents()) {
                throw TensorChecks.invalid(field + ".contents", "give the data in contents or in"
                        + " raw_input_contents, not both");
            }
            Object data = raw ? fromRaw(field, in.getDatatype(), m.getRawInputContents(i), count)
                    : fromContents(field, in.getDatatype(), in.getContents(), count);
            inputs.add(new Tensor(in.getName(), in.getDatatype(), in.getShapeList(), data,
                    parameters(field + ".parameters", in.getParametersMap())));
        }
        List<String> outputs = new ArrayList<>();
        for (ModelInferRequest.InferRequestedOutputTensor out : m.getOutputsList()) {
            outputs.add(out.getName());
        }
        return new InferRequest(m.getId(), parameters("parameters", m.getParametersMap()), inputs, outputs,
                deadlineMillis);
    }

    static Map<String, Object> parameters(String field, Map<String, InferParameter> given)
            throws InferenceException {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, InferParameter> e : given.entrySet()) {
            InferParameter p = e.getValue();
            Object value = switch (p.getParameterChoiceCase()) {
                case BOOL_PARAM -> p.getBoolParam();
                case INT64_PARAM -> p.getInt64Param();
                case STRING_PARAM -> p.getStringParam();
                case DOUBLE_PARAM -> p.getDoubleParam();
                case UINT64_PARAM -> {
                    if (p.getUint64Param() < 0) { // above Long.MAX_VALUE as unsigned
                        throw TensorChecks.invalid(field + "." + e.getKey(), "is larger than this server takes");
                    }
                    yield p.getUint64Param();
                }
                case PARAMETERCHOICE_NOT_SET -> throw TensorChecks.invalid(field + "." + e.getKey(),
                        "a parameter needs a value");
            };
            out.put(e.getKey(), value);
        }
        return out;
    }

    private static Object fromContents(String field, String datatype, InferTensorContents c, long count)
            throws InferenceException {
        String f = field + ".contents";
        return switch (datatype) {
            case "BOOL" -> {
                check(f + ".bool_contents", c.getBoolContentsCount(), count);
                boolean[] v = new boolean[(int) count];
                for (int i = 0; i < v.length; i++) {
                    v[i] = c.getBoolContents(i);
                }
                yield v;
            }
            case "INT32" -> {
                check(f + ".int_contents", c.getIntContentsCount(), count);
                yield c.getIntContentsList().stream().mapToInt(Integer::intValue).toArray();
            }
            case "INT64" -> {
                check(f + ".int64_contents", c.getInt64ContentsCount(), count);
                yield c.getInt64ContentsList().stream().mapToLong(Long::longValue).toArray();
            }
            case "FP32" -> {
                check(f + ".fp32_contents", c.getFp32ContentsCount(), count);
                float[] v = new float[(int) count];
                for (int i = 0; i < v.length; i++) {
                    v[i] = c.getFp32Contents(i);
                }
                yield v;
            }
            case "FP64" -> {
                check(f + ".fp64_contents", c.getFp64ContentsCount(), count);
                yield c.getFp64ContentsList().stream().mapToDouble(Double::doubleValue).toArray();
            }
            case "BYTES" -> {
                check(f + ".bytes_contents", c.getBytesContentsCount(), count);
                byte[][] v = new byte[(int) count][];
                for (int i = 0; i < v.length; i++) {
                    v[i] = c.getBytesContents(i).toByteArray();
                }
                yield v;
            }
            default -> throw new IllegalStateException("not carried: " + datatype);
        };
    }

    private static Object fromRaw(String field, String datatype, ByteString raw, long count)
            throws InferenceException {
        String f = "raw_input_contents" + field.substring("inputs".length());
        ByteBuffer b = raw.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        int width = switch (datatype) {
            case "BOOL" -> 1;
            case "INT32", "FP32" -> 4;
            case "INT64", "FP64" -> 8;
            default -> 0;
        };
        if (width > 0) {
            if (b.remaining() != count * width) {
                throw TensorChecks.invalid(f, "holds " + b.remaining() + " bytes; " + count + " " + datatype
                        + " elements take " + count * width);
            }
            int n = (int) count;
            return switch (datatype) {
                case "BOOL" -> {
                    boolean[] v = new boolean[n];
                    for (int i = 0; i < n; i++) {
                        v[i] = b.get() != 0;
                    }
                    yield v;
                }
                case "INT32" -> {
                    int[] v = new int[n];
                    b.asIntBuffer().get(v);
                    yield v;
                }
                case "FP32" -> {
                    float[] v = new float[n];
                    b.asFloatBuffer().get(v);
                    yield v;
                }
                case "INT64" -> {
                    long[] v = new long[n];
                    b.asLongBuffer().get(v);
                    yield v;
                }
                default -> {
                    double[] v = new double[n];
                    b.asDoubleBuffer().get(v);
                    yield v;
                }
            };
        }
        // BYTES: each element a 4-byte little-endian length, then that many bytes
        List<byte[]> elements = new ArrayList<>();
        while (b.hasRemaining()) {
            if (b.remaining() < 4 || elements.size() >= count) {
                throw TensorChecks.invalid(f, "is not " + count + " length-prefixed BYTES elements");
            }
            int length = b.getInt();
            if (length < 0 || length > b.remaining()) {
                throw TensorChecks.invalid(f, "element " + elements.size() + " declares " + Integer.toUnsignedLong(
                        length) + " bytes, but " + b.remaining() + " remain");
            }
            byte[] e = new byte[length];
            b.get(e);
            elements.add(e);
        }
        check(f, elements.size(), count);
        return elements.toArray(new byte[0][]);
    }

    private static void check(String field, int given, long count) throws InferenceException {
        if (given != count) {
            throw TensorChecks.invalid(field, "holds " + given + " elements; the shape holds " + count);
        }
    }

    static ModelInferResponse response(InferResponse r) {
        ModelInferResponse.Builder b = ModelInferResponse.newBuilder().setModelName(r.modelName())
                .setModelVersion(r.modelVersion()).setId(r.id());
        r.parameters().forEach((k, v) -> b.putParameters(k, parameter(v)));
        for (Tensor t : r.outputs()) {
            ModelInferResponse.InferOutputTensor.Builder out = ModelInferResponse.InferOutputTensor.newBuilder()
                    .setName(t.name()).setDatatype(t.datatype()).addAllShape(t.shape());
            t.parameters().forEach((k, v) -> out.putParameters(k, parameter(v)));
            out.setContents(contents(t));
            b.addOutputs(out);
        }
        return b.build();
    }

    private static InferTensorContents contents(Tensor t) {
        InferTensorContents.Builder c = InferTensorContents.newBuilder();
        Object data = t.data();
        if (data instanceof boolean[] v) {
            for (boolean x : v) {
                c.addBoolContents(x);
            }
        } else if (data instanceof int[] v) {
            for (int x : v) {
                c.addIntContents(x);
            }
        } else if (data instanceof long[] v) {
            for (long x : v) {
                c.addInt64Contents(x);
            }
        } else if (data instanceof float[] v) {
            for (float x : v) {
                c.addFp32Contents(x);
            }
        } else if (data instanceof double[] v) {
            for (double x : v) {
                c.addFp64Contents(x);
            }
        } else if (data instanceof byte[][] v) {
            for (byte[] x : v) {
                c.addBytesContents(ByteString.copyFrom(x));
            }
        } else {
            throw new IllegalStateException("a model answered tensor '" + t.name() + "' as "
                    + (data == null ? "null" : data.getClass().getSimpleName()) + ", which Tensor does not define");
        }
        return c.build();
    }

    static InferParameter parameter(Object v) {
        InferParameter.Builder p = InferParameter.newBuilder();
        if (v instanceof Boolean b) {
            p.setBoolParam(b);
        } else if (v instanceof Long || v instanceof Integer || v instanceof Short || v instanceof Byte) {
            p.setInt64Param(((Number) v).longValue());
        } else if (v instanceof Number n) {
            p.setDoubleParam(n.doubleValue());
        } else {
            p.setStringParam(String.valueOf(v));
        }
        return p.build();
    }
}
