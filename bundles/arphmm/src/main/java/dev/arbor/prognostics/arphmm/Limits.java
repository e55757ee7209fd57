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
}
