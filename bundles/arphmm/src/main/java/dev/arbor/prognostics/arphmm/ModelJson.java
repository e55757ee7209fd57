package dev.arbor.prognostics.arphmm;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.ArborException;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * An ARPHMM as a JSON document, the form an operator declares under {@code etc/prognostics/NAME.json}:
 * <pre>{@code
 * {"kind": "arphmm", "description": "...", "dimension": D, "order": P, "topology": "left-right",
 *  "failure_state": K-1, "initial": [K], "transitions": [K][K],
 *  "regressions": [K][D][D*P+1]   (W_k = [Φ_k1 … Φ_kP | b_k]),
 *  "covariances": [K][D][D], "training": {free-form provenance}}
 * }</pre>
 * Loading checks everything {@link ArHmm} checks (shapes, stochastic rows, symmetric positive-definite covariances,
 * finite numbers) and refuses unknown fields, naming the file's problem.
 */
public final class ModelJson {
    /** The value of {@code kind} for this model family. */
    public static final String KIND = "arphmm";
    private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static final Set<String> FIELDS = Set.of("kind", "description", "dimension", "order", "topology",
            "failure_state", "initial", "transitions", "regressions", "covariances", "training");

    private ModelJson() {
    }

    /** A loaded model with its description and provenance. */
    public record Document(ArHmm model, String description, JsonNode training) {
    }

    /** Parses and checks a model document; BAD_MODEL naming {@code source} and the problem otherwise. */
    public static Document read(String json, String source) {
        JsonNode root;
        try {
            root = MAPPER.readTree(json);
        } catch (JsonProcessingException e) {
            throw bad(source, "is not valid JSON (" + e.getOriginalMessage() + ")");
        }
        if (root == null || !root.isObject()) {
            throw bad(source, "must be a JSON object");
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext();) {
            String f = it.next();
            if (!FIELDS.contains(f)) {
                throw bad(source, "has unknown field '" + f + "'; the fields are " + new java.util.TreeSet<>(FIELDS));
            }
        }
        if (!KIND.equals(text(root, "kind", source))) {
            throw bad(source, "has kind '" + root.get("kind").asText() + "'; this loader reads kind 'arphmm'");
        }
        try {
            int d = integer(root, "dimension", source);
            int p = integer(root, "order", source);
            Topology topology = Topology.parse(text(root, "topology", source));
            double[] initial = vector(root.get("initial"), "initial", source);
            int failure = root.has("failure_state") ? integer(root, "failure_state", source) : initial.length - 1;
            double[][] a = matrix(root.get("transitions"), "transitions", source);
            double[][][] w = tensor(root.get("regressions"), "regressions", source);
            double[][][] sigma = tensor(root.get("covariances"), "covariances", source);
            ArHmm model = new ArHmm(d, p, topology, failure, initial, a, w, sigma);
            String description = root.has("description") ? root.get("description").asText() : "";
            return new Document(model, description, root.get("training"));
        } catch (ArborException e) {
            if (e.kind() == ArborException.Kind.BAD_MODEL) {
                throw e;
            }
            throw bad(source, e.getMessage());
        }
    }

    /** The document of {@code model}, with a description and free-form training provenance. */
    public static String write(ArHmm model, String description, Map<String, Object> training) {
        ObjectNode root = MAPPER.createObjectNode();
        root.put("kind", KIND);
        root.put("description", description);
        root.put("dimension", model.dimension);
        root.put("order", model.order);
        root.put("topology", model.topology.id());
        root.put("failure_state", model.failureState);
        root.set("initial", MAPPER.valueToTree(model.initial));
        root.set("transitions", MAPPER.valueToTree(model.transitions));
        root.set("regressions", MAPPER.valueToTree(model.regressions));
        root.set("covariances", MAPPER.valueToTree(model.covariances));
        root.set("training", MAPPER.valueToTree(training == null ? Map.of() : training));
        try {
            return MAPPER.writeValueAsString(root) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String text(JsonNode root, String field, String source) {
        JsonNode n = root.get(field);
        if (n == null || !n.isTextual()) {
            throw bad(source, "needs '" + field + "' as a string");
        }
        return n.asText();
    }

    private static int integer(JsonNode root, String field, String source) {
        JsonNode n = root.get(field);
        if (n == null || !n.canConvertToInt() || !n.isIntegralNumber()) {
            throw bad(source, "needs '" + field + "' as an integer");
        }
        return n.asInt();
    }

    private static double[] vector(JsonNode n, String what, String source) {
        if (n == null || !n.isArray()) {
            throw bad(source, "needs '" + what + "' as an array of numbers");
        }
        double[] v = new double[n.size()];
        for (int i = 0; i < v.length; i++) {
            if (!n.get(i).isNumber()) {
                throw bad(source, "'" + what + "'[" + i + "] is not a number");
            }
            v[i] = n.get(i).asDouble();
        }
        return v;
    }

    private static double[][] matrix(JsonNode n, String what, String source) {
        if (n == null || !n.isArray()) {
            throw bad(source, "needs '" + what + "' as an array of arrays of numbers");
        }
        double[][] m = new double[n.size()][];
        for (int i = 0; i < m.length; i++) {
            m[i] = vector(n.get(i), what + "[" + i + "]", source);
        }
        return m;
    }

    private static double[][][] tensor(JsonNode n, String what, String source) {
        if (n == null || !n.isArray()) {
            throw bad(source, "needs '" + what + "' as one matrix per state");
        }
        double[][][] t = new double[n.size()][][];
        for (int i = 0; i < t.length; i++) {
            t[i] = matrix(n.get(i), what + "[" + i + "]", source);
        }
        return t;
    }

    private static ArborException bad(String source, String problem) {
        return ArborException.badModel(source + " " + problem, null);
    }
}
