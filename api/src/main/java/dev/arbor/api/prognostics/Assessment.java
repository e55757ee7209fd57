package dev.arbor.api.prognostics;

/**
 * The assessment of a series. Posteriors and the path cover steps {@code firstStep}..T-1: the first
 * {@code firstStep} observations (the model's AR order) only condition the rest.
 *
 * @param model         the model's name
 * @param states        K
 * @param failureState  the state whose entry ends the useful life
 * @param firstStep     the index in the series of the first assessed step
 * @param filtered      P(s_t | y_1..t), one row of K per assessed step
 * @param smoothed      P(s_t | y_1..T), one row of K per assessed step
 * @param viterbi       the most probable state path, one state per assessed step
 * @param currentState  the most probable state at the last step (filtered)
 * @param logLikelihood log p(y_{P+1..T} | y_{1..P}) under the model (weighted by the plausibilities if given)
 * @param rul           remaining useful life after the last step
 * @param forecast      the forecast, or null when the horizon was 0
 */
public record Assessment(String model, int states, int failureState, int firstStep, double[][] filtered,
                         double[][] smoothed, int[] viterbi, int currentState, double logLikelihood, Rul rul,
                         Forecast forecast) {

    /**
     * Remaining useful life in steps after the last observation.
     *
     * @param expected  the expected steps until the failure state is entered ({@code +∞} if it may never be)
     * @param levels    the quantile levels of {@code quantiles} (empty without Monte-Carlo samples)
     * @param quantiles the Monte-Carlo quantiles ({@code +∞} where more paths than that level never failed within
     *                  the simulation bound)
     * @param samples   the Monte-Carlo paths used
     * @param censored  the fraction of paths that did not fail within the simulation bound
     */
    public record Rul(double expected, double[] levels, double[] quantiles, int samples, double censored) {
    }

    /**
     * Simulated future observations, one row per future step h = 1..horizon and one column per dimension.
     *
     * @param mean               the mean of the simulated observations
     * @param lower              their 5 % quantile
     * @param median             their median
     * @param upper              their 95 % quantile
     * @param failureProbability P(the failure state was entered within h steps)
     */
    public record Forecast(int horizon, double[][] mean, double[][] lower, double[][] median, double[][] upper,
                           double[] failureProbability) {
    }
}
