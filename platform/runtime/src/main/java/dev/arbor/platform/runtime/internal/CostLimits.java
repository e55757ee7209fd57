package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import java.util.function.UnaryOperator;

/**
 * The operator's bounds on what one request may cost, checked before any compute: beams (and beams x tokens, which
 * sizes beam search's memory), tokens drafted per step, and a diffusion canvas's work (generation length x steps).
 * Each comes from a framework or system property ({@code serve} sets them from its options) with a safe default.
 *
 * @param numBeams    most beams ({@code arbor.limits.num_beams}, {@code serve --max-beams})
 * @param beamTokens  most num_beams x max_tokens ({@code arbor.limits.beam_tokens}, {@code --max-beam-tokens})
 * @param draftTokens most tokens drafted or verified per step: lookahead, max_nodes, verify_batch_size, window
 *                    ({@code arbor.limits.draft_tokens}, {@code --max-draft-tokens})
 * @param canvasWork  most canvas positions x denoising steps ({@code arbor.limits.canvas_work},
 *                    {@code --max-canvas-work})
 */
record CostLimits(int numBeams, long beamTokens, int draftTokens, long canvasWork) {
    static final String NUM_BEAMS = "arbor.limits.num_beams";
    static final String BEAM_TOKENS = "arbor.limits.beam_tokens";
    static final String DRAFT_TOKENS = "arbor.limits.draft_tokens";
    static final String CANVAS_WORK = "arbor.limits.canvas_work";
    static final CostLimits DEFAULTS = new CostLimits(16, 16_384, 64, 262_144);

    /** The limits from {@code property} (framework, then system properties), defaults where unset. */
    static CostLimits from(UnaryOperator<String> property) {
        return new CostLimits((int) read(property, NUM_BEAMS, DEFAULTS.numBeams),
                read(property, BEAM_TOKENS, DEFAULTS.beamTokens),
                (int) read(property, DRAFT_TOKENS, DEFAULTS.draftTokens),
                read(property, CANVAS_WORK, DEFAULTS.canvasWork));
    }

    private static long read(UnaryOperator<String> property, String name, long fallback) {
        String v = property.apply(name);
        if (v == null || v.isBlank()) {
            return fallback;
        }
        try {
            long n = Long.parseLong(v.trim());
            return n > 0 ? Math.min(n, Integer.MAX_VALUE) : fallback;
        } catch (NumberFormatException e) {
            System.getLogger("dev.arbor.runtime").log(System.Logger.Level.WARNING, name + "='" + v
                    + "' is not a positive integer; using " + fallback);
            return fallback;
        }
    }

    /**
     * Refuses {@code options} (the generator's effective options) when a request with {@code maxTokens} would pass
     * a limit; {@code diffusion}: the generator fills a canvas (its steps count).
     */
    void check(Options options, int maxTokens, boolean diffusion) {
        int beams = positive(options, "num_beams");
        over("num_beams", beams, numBeams, NUM_BEAMS, "--max-beams");
        over("num_beams x max_tokens (" + beams + " x " + maxTokens + ")", (long) beams * maxTokens, beamTokens,
                BEAM_TOKENS, "--max-beam-tokens");
        for (String key : new String[] {"lookahead", "max_nodes", "num_draft", "verify_batch_size", "window"}) {
            over(key, positive(options, key), draftTokens, DRAFT_TOKENS, "--max-draft-tokens");
        }
        if (diffusion) {
            int steps = options.has("steps") ? positive(options, "steps") : maxTokens;
            over("the canvas's max_tokens x steps (" + maxTokens + " x " + steps + ")", (long) maxTokens * steps,
                    canvasWork, CANVAS_WORK, "--max-canvas-work");
        }
    }

    /** The option's value, or 1 when absent or not a positive integer (the generator itself reports bad values). */
    private static int positive(Options options, String key) {
        try {
            return options.integer(key, 1, 1, Integer.MAX_VALUE);
        } catch (ArborException e) {
            return 1;
        }
    }

    private static void over(String what, long value, long limit, String property, String flag) {
        if (value > limit) {
            throw ArborException.invalid(what + " is " + value + ", over this server's limit of " + limit
                    + " (operator setting " + property + ", serve " + flag + ")");
        }
    }
}
