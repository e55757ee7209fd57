package dev.arbor.api.prognostics;

import dev.arbor.api.generation.Cancellation;

/**
 * What to assess.
 *
 * @param model          the declared model's name
 * @param series         T × D health-indicator observations, oldest first (finite numbers)
 * @param plausibilities T × K plausibilities l_t(k) ∈ [0, 1] of the states (partial knowledge), or null (none); the
 *                       rows of the first P steps (the AR order), which only condition, are not used
 * @param horizon        future steps to forecast (0: no forecast)
 * @param samples        Monte-Carlo paths for the RUL quantiles and the forecast (0: analytic RUL only)
 * @param seed           seeds the Monte-Carlo paths (same seed, same answer)
 * @param cancellation   checked while simulating; null: never cancelled
 */
public record AssessRequest(String model, double[][] series, double[][] plausibilities, int horizon, int samples,
                            long seed, Cancellation cancellation) {
    public AssessRequest {
        cancellation = cancellation == null ? Cancellation.NEVER : cancellation;
    }

    /** A request for posteriors, Viterbi path and analytic RUL only. */
    public static AssessRequest of(String model, double[][] series) {
        return new AssessRequest(model, series, null, 0, 0, 0, null);
    }
}
