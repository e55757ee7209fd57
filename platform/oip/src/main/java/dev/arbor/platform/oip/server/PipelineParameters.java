package dev.arbor.platform.oip.server;

import dev.arbor.api.pipeline.PartRef;
import dev.arbor.platform.oip.InferenceException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A request's {@code parameters} as a pipeline takes them, checked one by one (a wrong type or range is INVALID
 * naming {@code parameters.<name>}), mirroring the OpenAI routes' fields: {@code max_tokens}, {@code temperature},
 * {@code top_p}, {@code top_k}, {@code min_p}, {@code presence_penalty}, {@code frequency_penalty}, {@code seed},
 * {@code stop} (a string, or over REST a list of strings), {@code arbor.generator} (a strategy for this request),
 * {@code arbor.processors} (a processor chain: names separated by commas, or over REST a list), and any other
 * {@code arbor.<option>}, which reaches every part of the pipeline as the OpenAI routes' {@code arbor.options} do.
 * Parts the operator fixed (watermarks) stay in the chain whatever a request names: the platform keeps them.
 *
 * @param maxTokens  the request's {@code max_tokens}, or null for the pipeline's default
 * @param stop       stop strings
 * @param generator  {@code arbor.generator}, or null
 * @param processors {@code arbor.processors}, or null
 * @param options    the remaining options for the pipeline's parts
 */
record PipelineParameters(Integer maxTokens, List<String> stop, PartRef generator, List<PartRef> processors,
                          Map<String, Object> options) {

    static final String ARBOR_PREFIX = "arbor.";
    private static final List<String> KNOWN = List.of("max_tokens", "temperature", "top_p", "top_k", "min_p",
            "presence_penalty", "frequency_penalty", "seed", "stop", "arbor.generator", "arbor.processors",
            "arbor.<option>");

    static PipelineParameters parse(Map<String, Object> parameters, int maxTokensLimit) throws InferenceException {
        Integer maxTokens = null;
        List<String> stop = List.of();
        PartRef generator = null;
        List<PartRef> processors = null;
        Map<String, Object> options = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : parameters.entrySet()) {
            String name = e.getKey();
            Object value = e.getValue();
            String field = "parameters." + name;
            switch (name) {
                case "max_tokens" -> {
                    long v = integer(field, value, 0, Integer.MAX_VALUE);
                    if (v > maxTokensLimit) {
                        throw TensorChecks.invalid(field, "is " + v + ", more than this server's limit of "
                                + maxTokensLimit + " (max_tokens)");
                    }
                    maxTokens = (int) v;
                }
                case "temperature" -> options.put(name, number(field, value, 0.0, 2.0));
                case "top_p", "min_p" -> options.put(name, number(field, value, 0.0, 1.0));
                case "presence_penalty", "frequency_penalty" -> options.put(name, number(field, value, -2.0, 2.0));
                case "top_k" -> options.put(name, (int) integer(field, value, 0, Integer.MAX_VALUE));
                case "seed" -> options.put(name, integer(field, value, Long.MIN_VALUE, Long.MAX_VALUE));
                case "stop" -> stop = strings(field, value, false);
                case "arbor.generator" -> generator = PartRef.of(nonBlank(field, value));
                case "arbor.processors" -> {
                    processors = new ArrayList<>();
                    for (String p : strings(field, value, true)) {
                        processors.add(PartRef.of(p));
                    }
                }
                default -> {
                    if (!name.startsWith(ARBOR_PREFIX) || name.length() == ARBOR_PREFIX.length()) {
                        throw TensorChecks.invalid(field, "unknown parameter; a pipeline takes " + String.join(", ",
                                KNOWN));
                    }
                    if (!(value instanceof String || value instanceof Number || value instanceof Boolean)) {
                        throw TensorChecks.invalid(field, "must be a string, a number or a boolean, got "
                                + kind(value));
                    }
                    options.put(name.substring(ARBOR_PREFIX.length()), value);
                }
            }
        }
        return new PipelineParameters(maxTokens, stop, generator, processors, options);
    }

    private static long integer(String field, Object value, long min, long max) throws InferenceException {
        if (!(value instanceof Long || value instanceof Integer)) {
            throw TensorChecks.invalid(field, "must be an integer, got " + kind(value));
        }
        long v = ((Number) value).longValue();
        if (v < min || v > max) {
            throw TensorChecks.invalid(field, "must be between " + min + " and " + max + ", got " + v);
        }
        return v;
    }

    private static double number(String field, Object value, double min, double max) throws InferenceException {
        if (!(value instanceof Number n)) {
            throw TensorChecks.invalid(field, "must be a number, got " + kind(value));
        }
        double v = n.doubleValue();
        if (!(v >= min && v <= max)) {
            throw TensorChecks.invalid(field, "must be between " + min + " and " + max + ", got " + v);
        }
        return v;
    }

    private static String nonBlank(String field, Object value) throws InferenceException {
        if (!(value instanceof String s) || s.isBlank()) {
            throw TensorChecks.invalid(field, "must be a part name, got " + kind(value));
        }
        return s.strip();
    }

    /** A string (split at commas when {@code commaList}) or a list of strings; empty entries dropped. */
    private static List<String> strings(String field, Object value, boolean commaList) throws InferenceException {
        List<String> out = new ArrayList<>();
        if (value instanceof String s) {
            for (String part : commaList ? s.split(",") : new String[] {s}) {
                String t = commaList ? part.strip() : part;
                if (!t.isEmpty()) {
                    out.add(t);
                }
            }
            return out;
        }
        if (value instanceof List<?> list) {
            for (Object o : list) {
                if (!(o instanceof String s)) {
                    throw TensorChecks.invalid(field, "must be a string or a list of strings, got a list holding "
                            + kind(o));
                }
                if (!s.isEmpty()) {
                    out.add(commaList ? s.strip() : s);
                }
            }
            return out;
        }
        throw TensorChecks.invalid(field, "must be a string or a list of strings, got " + kind(value));
    }

    static String kind(Object value) {
        String type = value == null ? "null" : value instanceof String ? "a string" : value instanceof Boolean
                ? "a boolean" : value instanceof Number ? "a number" : value instanceof List ? "a list" : "an object";
        String text = String.valueOf(value);
        return type + (value == null ? "" : " (" + (text.length() > 40 ? text.substring(0, 37) + "..." : text)
                + ")");
    }
}
