package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.pipeline.Completion;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the decoding strategy did for a response, summed over its choices, as an {@code "arbor"} extension object
 * inside {@code usage}: the generator, target forward passes, tokens per forward pass, and for speculative strategies the drafted and
 * accepted tokens with the acceptance rate and tokens per step (OpenAI clients ignore unknown usage fields).
 * The generator's other scalar figures (what {@code arbor generate --stats} prints) follow in {@code "stats"}:
 * whole numbers summed over the choices, fractional ones averaged over the choices that report them, text and
 * booleans as the last choice reported them; structured values (post-processor annotations, images) are left out.
 */
final class StrategyUsage {
    static final String PREFIX = "speculative.";
    private String generator;
    private long forwardPasses;
    private long steps;
    private long drafted;
    private long accepted;
    private long emitted;
    private boolean speculative;
    /** Other scalar figures by key; fractional ones as {sum, count} to average. */
    private final Map<String, Object> figures = new TreeMap<>();

    /** Adds one completion's figures (generators report them in {@code Completion.stats}). */
    void add(Completion c) {
        Map<String, Object> stats = c.stats();
        if (stats.get("generator") != null) {
            generator = stats.get("generator").toString();
        }
        forwardPasses += number(stats.get("forward_passes"));
        emitted += c.tokens().length;
        if (stats.containsKey(PREFIX + "drafted")) {
            speculative = true;
            steps += number(stats.get(PREFIX + "steps"));
            drafted += number(stats.get(PREFIX + "drafted"));
            accepted += number(stats.get(PREFIX + "accepted"));
        }
        stats.forEach(this::addFigure);
    }

    private void addFigure(String key, Object value) {
        if (key.equals("generator") || key.equals("forward_passes") || key.startsWith(PREFIX)) {
            return; // carried above
        }
        if (value instanceof Double || value instanceof Float) {
            double[] sumCount = figures.get(key) instanceof double[] d ? d : new double[2];
            sumCount[0] += ((Number) value).doubleValue();
            sumCount[1]++;
            figures.put(key, sumCount);
        } else if (value instanceof Number n) {
            figures.merge(key, n.longValue(), (a, b) -> a instanceof Long x ? x + (Long) b : b);
        } else if (value instanceof String || value instanceof Boolean) {
            figures.put(key, value);
        }
    }

    boolean speculative() {
        return speculative;
    }

    String generator() {
        return generator == null ? "unknown" : generator;
    }

    long drafted() {
        return drafted;
    }

    long accepted() {
        return accepted;
    }

    long steps() {
        return steps;
    }

    /** Writes the {@code "arbor"} object into {@code usage}. */
    void writeTo(ObjectNode usage) {
        if (generator == null) {
            return;
        }
        ObjectNode arbor = usage.putObject("arbor");
        arbor.put("generator", generator);
        arbor.put("forward_passes", forwardPasses);
        // tokens per forward pass: 1 for plain autoregressive decoding, more for parallel (speculative, diffusion)
        arbor.put("tokens_per_forward", forwardPasses == 0 ? 0.0 : (double) emitted / forwardPasses);
        if (speculative) {
            ObjectNode s = arbor.putObject("speculative");
            s.put("steps", steps);
            s.put("drafted", drafted);
            s.put("accepted", accepted);
            s.put("acceptance_rate", drafted == 0 ? 0.0 : (double) accepted / drafted);
            s.put("tokens_per_step", steps == 0 ? 0.0 : (double) emitted / steps);
        }
        if (!figures.isEmpty()) {
            ObjectNode out = arbor.putObject("stats");
            figures.forEach((key, value) -> {
                if (value instanceof double[] sumCount) {
                    out.put(key, sumCount[0] / sumCount[1]);
                } else if (value instanceof Long l) {
                    out.put(key, l);
                } else if (value instanceof Boolean b) {
                    out.put(key, b);
                } else {
                    out.put(key, String.valueOf(value));
                }
            });
        }
    }

    private static long number(Object value) {
        return value instanceof Number n ? n.longValue() : 0L;
    }
}
