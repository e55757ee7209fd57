package dev.arbor.sampling.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;

/** Option readers the API's {@link Options} does not have: ranges open at zero. */
final class Checks {
    /** Cap on temperature and repetition_penalty: past it the result is degenerate anyway, so it is a typo. */
    static final double MAX_SCALE = 100.0;
    /** HF's warpers all accept it; one key shared by top-k, top-p, min-p and typical, as in HF's generate(). */
    static final String MIN_TOKENS_TO_KEEP = "min_tokens_to_keep";

    private Checks() {
    }

    /** A number in (0, max]: {@code Options.number} with the lower bound made exclusive. */
    static double positive(Options options, String key, double fallback, double max) {
        double v = options.number(key, fallback, 0, max);
        if (v == 0) {
            throw ArborException.invalid("option '" + key + "' must be greater than 0 and at most " + max
                    + ", got " + options.raw(key).orElse(v));
        }
        return v;
    }

    static int minTokensToKeep(Options options) {
        return options.integer(MIN_TOKENS_TO_KEEP, 1, 1, Integer.MAX_VALUE);
    }
}
