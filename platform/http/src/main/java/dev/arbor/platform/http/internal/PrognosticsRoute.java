package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.prognostics.AssessRequest;
import dev.arbor.api.prognostics.Assessment;
import java.util.Iterator;
import java.util.Set;

/**
 * {@code POST /v1/prognostics/assess}: reads {@code {"model", "series", "plausibilities"?, "horizon"?, "samples"?,
 * "seed"?}} into an {@link AssessRequest} (shapes and types checked here; lengths, dimensions, sample counts and
 * finiteness by the service, within the operator's limits) and writes the {@link Assessment} as JSON. The model is a
 * name the operator declared; the request never names a file.
 */
final class PrognosticsRoute {
    /** Monte-Carlo paths when the request does not say. */
    static final int DEFAULT_SAMPLES = 1000;
    private static final Set<String> FIELDS = Set.of("model", "series", "plausibilities", "horizon", "samples",
            "seed");

    private PrognosticsRoute() {
    }

    /** The request of {@code body}; 400 naming the field otherwise. {@code cancellation} is checked while simulating. */
    static AssessRequest parse(JsonNode body, Cancellation cancellation) {
        if (!body.isObject()) {
            throw ApiError.invalid(null, "the body must be a JSON object with 'model' and 'series'");
        }
        for (Iterator<String> it = body.fieldNames(); it.hasNext();) {
            String f = it.next();
            if (!FIELDS.contains(f)) {
                throw ApiError.invalid(f, "unknown field '" + clip(f) + "'; this endpoint reads " + new java.util
                        .TreeSet<>(FIELDS));
            }
        }
        JsonNode model = body.get("model");
        if (model == null || !model.isTextual()) {
            throw ApiError.invalid("model", "'model' must name a declared prognostic model, as a string");
        }
        double[][] series = matrix(body.get("series"), "series", true);
        if (series == null) {
            throw ApiError.invalid("series", "'series' is required: the health-indicator steps, oldest first, as an"
                    + " array of arrays of numbers (one inner array per step) or an array of numbers (one value per"
                    + " step)");
        }
        double[][] plausibilities = matrix(body.get("plausibilities"), "plausibilities", false);
        int horizon = integer(body, "horizon", 0);
        int samples = integer(body, "samples", DEFAULT_SAMPLES);
        long seed = body.has("seed") && !body.get("seed").isNull() ? seed(body.get("seed")) : 0;
        return new AssessRequest(model.asText(), series, plausibilities, horizon, samples, seed, cancellation);
    }

    private static long seed(JsonNode n) {
        if (!n.isIntegralNumber() || !n.canConvertToLong()) {
            throw ApiError.invalid("seed", "'seed' must be an integer");
        }
        return n.asLong();
    }

    private static int integer(JsonNode body, String field, int fallback) {
        JsonNode n = body.get(field);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw ApiError.invalid(field, "'" + field + "' must be an integer");
        }
        return n.asInt();
    }

    /** An array of arrays of numbers (or, where {@code flat}, an array of numbers: one value per step); null if absent. */
    private static double[][] matrix(JsonNode n, String field, boolean flat) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (!n.isArray()) {
            throw ApiError.invalid(field, "'" + field + "' must be an array of arrays of numbers");
        }
        double[][] m = new double[n.size()][];
        for (int t = 0; t < m.length; t++) {
            JsonNode row = n.get(t);
            if (flat && row.isNumber()) {
                m[t] = new double[] {row.asDouble()};
                continue;
            }
            if (!row.isArray()) {
                throw ApiError.invalid(field, "'" + field + "'[" + t + "] must be an array of numbers");
            }
            m[t] = new double[row.size()];
            for (int a = 0; a < m[t].length; a++) {
                if (!row.get(a).isNumber()) {
                    throw ApiError.invalid(field, "'" + field + "'[" + t + "][" + a + "] is not a number");
                }
                m[t][a] = row.get(a).asDouble();
            }
        }
        return m;
    }

    /** The answer: posteriors, path, RUL and forecast; an infinite RUL (failure unreachable) is null. */
    static ObjectNode response(Assessment a) {
        ObjectNode root = OpenAiResponses.MAPPER.createObjectNode();
        root.put("object", "prognostics.assessment");
        root.put("model", a.model());
        root.put("states", a.states());
        root.put("failure_state", a.failureState());
        root.put("first_step", a.firstStep());
        root.put("current_state", a.currentState());
        root.set("current_posterior", array(a.filtered()[a.filtered().length - 1]));
        root.put("log_likelihood", a.logLikelihood());
        ObjectNode rul = root.putObject("rul");
        number(rul, "expected", a.rul().expected());
        rul.put("samples", a.rul().samples());
        if (a.rul().samples() > 0) {
            ObjectNode q = rul.putObject("quantiles");
            for (int i = 0; i < a.rul().levels().length; i++) {
                number(q, String.format(java.util.Locale.ROOT, "p%02d", Math.round(100 * a.rul().levels()[i])),
                        a.rul().quantiles()[i]);
            }
            rul.put("censored", a.rul().censored());
        }
        ArrayNode viterbi = root.putArray("viterbi");
        for (int s : a.viterbi()) {
            viterbi.add(s);
        }
        root.set("filtered", matrix(a.filtered()));
        root.set("smoothed", matrix(a.smoothed()));
        if (a.forecast() != null) {
            ObjectNode f = root.putObject("forecast");
            f.put("horizon", a.forecast().horizon());
            f.set("mean", matrix(a.forecast().mean()));
            f.set("p05", matrix(a.forecast().lower()));
            f.set("p50", matrix(a.forecast().median()));
            f.set("p95", matrix(a.forecast().upper()));
            f.set("failure_probability", array(a.forecast().failureProbability()));
        }
        return root;
    }

    private static void number(ObjectNode node, String field, double v) {
        if (Double.isFinite(v)) {
            node.put(field, v);
        } else {
            node.putNull(field);
        }
    }

    private static ArrayNode array(double[] v) {
        ArrayNode a = OpenAiResponses.MAPPER.createArrayNode();
        for (double x : v) {
            a.add(x);
        }
        return a;
    }

    private static ArrayNode matrix(double[][] m) {
        ArrayNode a = OpenAiResponses.MAPPER.createArrayNode();
        for (double[] row : m) {
            a.add(array(row));
        }
        return a;
    }

    private static String clip(String s) {
        String c = s.length() > 40 ? s.substring(0, 40) + "..." : s;
        return c.replaceAll("[^A-Za-z0-9._ -]", "?");
    }
}
