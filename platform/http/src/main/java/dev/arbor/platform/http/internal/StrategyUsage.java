package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.pipeline.Completion;
import java.util.Map;

/**
 * What the decoding strategy did for a response, summed over its choices, as an {@code "arbor"} extension object
 * inside {@code usage}: the generator, target forward passes, tokens per forward pass, and for speculative strategies the drafted and
 * accepted tokens with the acceptance rate and tokens per step (OpenAI clients ignore unknown usage fields).
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
    }

    private static long number(Object value) {
        return value instanceof Number n ? n.longValue() : 0L;
    }
}
