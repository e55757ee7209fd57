package dev.arbor.api.prognostics;

/**
 * What a fit produced.
 *
 * @param name          the declared name
 * @param logLikelihood the final training log-likelihood
 * @param iterations    the EM iterations of the winning restart
 * @param restart       the winning restart
 * @param steps         the training steps (observations after each sequence's first P)
 * @param location      where the declaration was written, for the operator
 */
public record FitReport(String name, double logLikelihood, int iterations, int restart, long steps,
                        String location) {
}
