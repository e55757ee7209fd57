package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.InferenceModel;
import dev.arbor.platform.oip.Tensor;
import dev.arbor.platform.oip.TensorSpec;
import dev.arbor.platform.oip.server.TensorChecks;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The Open Inference Protocol's REST bodies as JSON: an inference request read into {@link Tensor}s, field by field
 * (a wrong JSON type, a datatype the server does not carry, a shape whose element count is not the data's, a shape
 * past the body's size are 400s naming the field), and responses and metadata written back. Tensor data may be flat
 * or nested row-major, as the protocol allows; BYTES elements are JSON strings (UTF-8).
 */
final class OipJson {
    /** The datatypes carried over REST, with the Java arrays {@link Tensor} holds them in. */
    static final List<String> CARRIED = List.of("BOOL", "INT32", "INT64", "FP32", "FP64", "BYTES");

    private OipJson() {
    }

    /** Reads an inference request body; {@code maxElements} bounds any declared shape (the body's byte limit). */
    static InferRequest request(JsonNode body, long deadlineMillis, long maxElements) throws InferenceException {
        if (body == null || !body.isObject()) {
            throw TensorChecks.invalid("body", "must be a JSON object with \"inputs\"");
        }
        String id = "";
        JsonNode idNode = body.get("id");
        if (idNode != null && !idNode.isNull()) {
            if (!idNode.isTextual()) {
                throw TensorChecks.invalid("id", "must be a string, got " + OpenAiRequest.kind(idNode));
            }
            id = idNode.asText();
        }
        Map<String, Object> parameters = parameters("parameters", body.get("parameters"));
        JsonNode inputs = body.get("inputs");
        if (inputs == null || !inputs.isArray()) {
            throw TensorChecks.invalid("inputs", "must be a list of tensors ({\"name\", \"datatype\", \"shape\","
                    + " \"data\"}), got " + (inputs == null ? "nothing" : OpenAiRequest.kind(inputs)));
        }
        List<Tensor> tensors = new ArrayList<>();
        for (int i = 0; i < inputs.size(); i++) {
            tensors.add(tensor("inputs[" + i + "]", inputs.get(i), maxElements));
        }
        List<String> outputs = new ArrayList<>();
        JsonNode out = body.get("outputs");
        if (out != null && !out.isNull()) {
            if (!out.isArray()) {
                throw TensorChecks.invalid("outputs", "must be a list of {\"name\"} objects, got "
                        + OpenAiRequest.kind(out));
            }
            for (int i = 0; i < out.size(); i++) {
                JsonNode o = out.get(i);
                if (!o.isObject() || !o.path("name").isTextual()) {
                    throw TensorChecks.invalid("outputs[" + i + "]", "must be an object with a \"name\" string, got "
                            + OpenAiRequest.kind(o));
                }
                outputs.add(o.get("name").asText());
            }
        }
        return new InferRequest(id, parameters, tensors, outputs, deadlineMillis);
    }

    private static Tensor tensor(String field, JsonNode node, long maxElements) throws InferenceException {
        if (!node.isObject()) {
            throw TensorChecks.invalid(field, "must be an object {\"name\", \"datatype\", \"shape\", \"data\"}, got "
                    + OpenAiRequest.kind(node));
        }
        JsonNode name = node.get("name");
        if (name == null || !name.isTextual() || name.asText().isEmpty()) {
            throw TensorChecks.invalid(field + ".name", "must be a non-empty string");
        }
        JsonNode datatypeNode = node.get("datatype");
        if (datatypeNode == null || !datatypeNode.isTextual()) {
            throw TensorChecks.invalid(field + ".datatype", "must be a string such as \"BYTES\" or \"INT64\"");
        }
        String datatype = datatypeNode.asText();
        TensorChecks.datatype(field + ".datatype", datatype);
        if (!CARRIED.contains(datatype)) {
            throw TensorChecks.invalid(field + ".datatype", datatype + " is not carried by this server; it carries "
                    + String.join(", ", CARRIED));
        }
        JsonNode shapeNode = node.get("shape");
        if (shapeNode == null || !shapeNode.isArray()) {
            throw TensorChecks.invalid(field + ".shape", "must be a list of integers");
        }
        List<Long> shape = new ArrayList<>();
        for (int d = 0; d < shapeNode.size(); d++) {
            JsonNode dim = shapeNode.get(d);
            if (!dim.isIntegralNumber() || !dim.canConvertToLong()) {
                throw TensorChecks.invalid(field + ".shape[" + d + "]", "must be an integer, got "
                        + OpenAiRequest.kind(dim));
            }
            shape.add(dim.longValue());
        }
        long count = TensorChecks.elementCount(field + ".shape", shape, maxElements);
        JsonNode data = node.get("data");
        if (data == null || !data.isArray()) {
            throw TensorChecks.invalid(field + ".data", "must be a list of the tensor's elements (flat or nested,"
                    + " row-major)");
        }
        List<JsonNode> flat = new ArrayList<>();
        flatten(field + ".data", data, flat, count);
        if (flat.size() != count) {
            throw TensorChecks.invalid(field + ".data", "holds " + flat.size() + " elements; the shape " + shape
                    + " holds " + count);
        }
        return new Tensor(name.asText(), datatype, shape, values(field + ".data", datatype, flat),
                parameters(field + ".parameters", node.get("parameters")));
    }

    /** Nested lists to a flat list of scalars, stopping as soon as there are more than the shape holds. */
    private static void flatten(String field, JsonNode list, List<JsonNode> out, long limit)
            throws InferenceException {
        for (JsonNode e : list) {
            if (e.isArray()) {
                flatten(field, e, out, limit);
            } else {
                out.add(e);
            }
            if (out.size() > limit) {
                throw TensorChecks.invalid(field, "holds more elements than the shape's " + limit);
            }
        }
    }

    private static Object values(String field, String datatype, List<JsonNode> flat) throws InferenceException {
        int n = flat.size();
        switch (datatype) {
            case "BOOL" -> {
                boolean[] v = new boolean[n];
                for (int i = 0; i < n; i++) {
                    if (!flat.get(i).isBoolean()) {
                        throw element(field, i, "true or false", flat.get(i));
                    }
                    v[i] = flat.get(i).booleanValue();
                }
                return v;
            }
            case "INT32" -> {
                int[] v = new int[n];
                for (int i = 0; i < n; i++) {
                    if (!flat.get(i).isIntegralNumber() || !flat.get(i).canConvertToInt()) {
                        throw element(field, i, "a 32-bit integer", flat.get(i));
                    }
                    v[i] = flat.get(i).intValue();
                }
                return v;
            }
            case "INT64" -> {
                long[] v = new long[n];
                for (int i = 0; i < n; i++) {
                    if (!flat.get(i).isIntegralNumber() || !flat.get(i).canConvertToLong()) {
                        throw element(field, i, "a 64-bit integer", flat.get(i));
                    }
                    v[i] = flat.get(i).longValue();
                }
                return v;
            }
            case "FP32" -> {
                float[] v = new float[n];
                for (int i = 0; i < n; i++) {
                    if (!flat.get(i).isNumber()) {
                        throw element(field, i, "a number", flat.get(i));
                    }
                    v[i] = flat.get(i).floatValue();
                }
                return v;
            }
            case "FP64" -> {
                double[] v = new double[n];
                for (int i = 0; i < n; i++) {
                    if (!flat.get(i).isNumber()) {
                        throw element(field, i, "a number", flat.get(i));
                    }
                    v[i] = flat.get(i).doubleValue();
                }
                return v;
            }
            default -> {
                byte[][] v = new byte[n][];
                for (int i = 0; i < n; i++) {
                    if (!flat.get(i).isTextual()) {
                        throw element(field, i, "a string", flat.get(i));
                    }
                    v[i] = flat.get(i).asText().getBytes(StandardCharsets.UTF_8);
                }
                return v;
            }
        }
    }

    private static InferenceException element(String field, int index, String expected, JsonNode got) {
        return TensorChecks.invalid(field + "[" + index + "]", "must be " + expected + ", got "
                + OpenAiRequest.kind(got));
    }

    /** Parameters: strings, integers (as Long), decimals (as Double), booleans, or lists of strings. */
    private static Map<String, Object> parameters(String field, JsonNode node) throws InferenceException {
        Map<String, Object> out = new LinkedHashMap<>();
        if (node == null || node.isNull()) {
            return out;
        }
        if (!node.isObject()) {
            throw TensorChecks.invalid(field, "must be an object, got " + OpenAiRequest.kind(node));
        }
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            JsonNode v = e.getValue();
            String f = field + "." + e.getKey();
            if (v.isTextual()) {
                out.put(e.getKey(), v.asText());
            } else if (v.isBoolean()) {
                out.put(e.getKey(), v.booleanValue());
            } else if (v.isIntegralNumber()) {
                if (!v.canConvertToLong()) {
                    throw TensorChecks.invalid(f, "is out of the 64-bit integer range");
                }
                out.put(e.getKey(), v.longValue());
            } else if (v.isNumber()) {
                out.put(e.getKey(), v.doubleValue());
            } else if (v.isArray()) {
                List<String> strings = new ArrayList<>();
                for (JsonNode s : v) {
                    if (!s.isTextual()) {
                        throw TensorChecks.invalid(f, "must be a string, a number, a boolean or a list of strings,"
                                + " got a list holding " + OpenAiRequest.kind(s));
                    }
                    strings.add(s.asText());
                }
                out.put(e.getKey(), strings);
            } else {
                throw TensorChecks.invalid(f, "must be a string, a number, a boolean or a list of strings, got "
                        + OpenAiRequest.kind(v));
            }
        }
        return out;
    }

    static ObjectNode response(InferResponse r) {
        ObjectNode root = OpenAiResponses.MAPPER.createObjectNode();
        root.put("model_name", r.modelName());
        if (!r.modelVersion().isEmpty()) {
            root.put("model_version", r.modelVersion());
        }
        if (!r.id().isEmpty()) {
            root.put("id", r.id());
        }
        if (!r.parameters().isEmpty()) {
            root.set("parameters", OpenAiResponses.MAPPER.valueToTree(r.parameters()));
        }
        ArrayNode outputs = root.putArray("outputs");
        for (Tensor t : r.outputs()) {
            ObjectNode o = outputs.addObject();
            o.put("name", t.name());
            o.put("datatype", t.datatype());
            ArrayNode shape = o.putArray("shape");
            t.shape().forEach(shape::add);
            if (!t.parameters().isEmpty()) {
                o.set("parameters", OpenAiResponses.MAPPER.valueToTree(t.parameters()));
            }
            o.set("data", data(t));
        }
        return root;
    }

    private static JsonNode data(Tensor t) {
        ArrayNode a = OpenAiResponses.MAPPER.createArrayNode();
        Object d = t.data();
        if (d instanceof byte[][] v) {
            for (byte[] x : v) {
                a.add(new String(x, StandardCharsets.UTF_8));
            }
        } else if (d instanceof long[] v) {
            for (long x : v) {
                a.add(x);
            }
        } else if (d instanceof int[] v) {
            for (int x : v) {
                a.add(x);
            }
        } else if (d instanceof float[] v) {
            for (float x : v) {
                a.add(x);
            }
        } else if (d instanceof double[] v) {
            for (double x : v) {
                a.add(x);
            }
        } else if (d instanceof boolean[] v) {
            for (boolean x : v) {
                a.add(x);
            }
        } else {
            throw new IllegalStateException("a model answered tensor '" + t.name() + "' as "
                    + (d == null ? "null" : d.getClass().getSimpleName()) + ", which Tensor does not define");
        }
        return a;
    }

    static ObjectNode metadata(InferenceModel m) {
        ObjectNode root = OpenAiResponses.MAPPER.createObjectNode();
        root.put("name", m.name());
        ArrayNode versions = root.putArray("versions");
        if (!m.version().isEmpty()) {
            versions.add(m.version());
        }
        root.put("platform", m.platform());
        specs(root.putArray("inputs"), m.inputs());
        specs(root.putArray("outputs"), m.outputs());
        return root;
    }

    private static void specs(ArrayNode out, List<TensorSpec> specs) {
        for (TensorSpec s : specs) {
            ObjectNode o = out.addObject();
            o.put("name", s.name());
            o.put("datatype", s.datatype());
            ArrayNode shape = o.putArray("shape");
            s.shape().forEach(shape::add);
        }
    }

    /** The protocol's error body: {@code {"error": "<message>"}}. */
    static ObjectNode error(String message) {
        ObjectNode root = OpenAiResponses.MAPPER.createObjectNode();
        root.put("error", message);
        return root;
    }
}
