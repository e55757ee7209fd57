package dev.arbor.platform.runtime.cli;

/**
 * Carries {@code serve}'s per-request cost limits to the pipeline service, which reads them as framework properties
 * (falling back to system properties) on every request: {@code arbor.limits.num_beams}, {@code beam_tokens},
 * {@code draft_tokens}, {@code canvas_work}. Unset options leave a property given with -D (or the default) alone.
 */
final class CostLimitOptions {
    private CostLimitOptions() {
    }

    static void apply(Integer maxBeams, Integer maxBeamTokens, Integer maxDraftTokens, Integer maxCanvasWork) {
        set("arbor.limits.num_beams", maxBeams);
        set("arbor.limits.beam_tokens", maxBeamTokens);
        set("arbor.limits.draft_tokens", maxDraftTokens);
        set("arbor.limits.canvas_work", maxCanvasWork);
    }

    private static void set(String property, Integer value) {
        if (value != null) {
            if (value <= 0) {
                throw dev.arbor.api.ArborException.invalid("serve: the limit for " + property + " must be positive,"
                        + " got " + value);
            }
            System.setProperty(property, Integer.toString(value));
        }
    }
}
