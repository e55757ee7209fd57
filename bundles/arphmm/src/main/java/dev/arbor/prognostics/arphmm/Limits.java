package dev.arbor.prognostics.arphmm;

/**
 * The bounds a request must stay within (operator-configurable, configuration {@code dev.arbor.prognostics}).
 *
 * @param maxSeriesLength steps of one series
 * @param maxDimension    values per step
 * @param maxSamples      Monte-Carlo paths
 * @param maxHorizon      forecast steps
 * @param maxForecastValues samples × horizon × dimension (the forecast holds them all to take quantiles)
 * @param maxRulSteps     steps one RUL path is simulated before it counts as censored
 */
record Limits(int maxSeriesLength, int maxDimension, int maxSamples, int maxHorizon, long maxForecastValues,
              int maxRulSteps) {
    static final Limits DEFAULT = new Limits(100_000, 64, 10_000, 1_000, 2_000_000L, 100_000);

    /** The limits of a configuration (keys as the component names); INVALID_INPUT naming a bad value. */
    static Limits from(java.util.Map<String, Object> config, String source) {
        return new Limits(
                (int) value(config, "max_series_length", DEFAULT.maxSeriesLength, 2, Integer.MAX_VALUE, source),
                (int) value(config, "max_dimension", DEFAULT.maxDimension, 1, 4096, source),
                (int) value(config, "max_samples", DEFAULT.maxSamples, 0, Integer.MAX_VALUE, source),
                (int) value(config, "max_horizon", DEFAULT.maxHorizon, 0, Integer.MAX_VALUE, source),
                value(config, "max_forecast_values", DEFAULT.maxForecastValues, 0, 1L << 31, source),
                (int) value(config, "max_rul_steps", DEFAULT.maxRulSteps, 1, Integer.MAX_VALUE, source));
    }

    private static long value(java.util.Map<String, Object> config, String key, long fallback, long min, long max,
                              String source) {
        Object v = config == null ? null : config.get(key);
        if (v == null) {
            return fallback;
        }
        long n;
        try {
            n = v instanceof Number number ? number.longValue() : Long.parseLong(v.toString().strip());
        } catch (NumberFormatException e) {
            throw dev.arbor.api.ArborException.invalid(source + ": '" + key + "' must be an integer, got '" + v + "'");
        }
        if (n < min || n > max) {
            throw dev.arbor.api.ArborException.invalid(source + ": '" + key + "' must be " + min + ".." + max
                    + ", got " + n);
        }
        return n;
    }
}
