package dev.arbor.api.sampling;

import dev.arbor.api.Options;

/**
 * Request options whose meaning for decoding is decided once, for the platform, the sampling parts and every
 * strategy alike.
 */
public final class SamplingOptions {
    /** Request option: the sampling temperature; 0 asks for greedy decoding (OpenAI's convention). */
    public static final String TEMPERATURE = "temperature";

    private SamplingOptions() {
    }

    /**
     * True when the request asks for greedy decoding: option {@value #TEMPERATURE} is 0. Then the {@code sample}
     * selector takes the argmax and the platform skips processors that cannot change it ({@code ARGMAX_INVARIANT}).
     * Only the decision is made here; each part validates the range it accepts.
     */
    public static boolean greedy(Options options) {
        return options.number(TEMPERATURE, 1.0, 0.0, Double.MAX_VALUE) == 0.0;
    }
}
