package dev.arbor.api.prognostics;

import java.util.List;

/**
 * What to fit (an operator's action: the fitted model is declared under {@code name} for requests to use).
 *
 * @param name           the name to declare the model under (letters, digits, '.', '_', '-')
 * @param sequences      training sequences, each T × D
 * @param plausibilities per sequence a T × K plausibility matrix or null (hidden); null: all hidden
 * @param states         K
 * @param order          the AR order P
 * @param topology       {@code full}, {@code left-right} or {@code chain}
 * @param restarts       EM restarts (the best log-likelihood wins)
 * @param maxIterations  EM iterations per restart
 * @param seed           seeds the initialisations
 * @param description    what the model is, for the operator
 * @param replace        whether an existing declaration of {@code name} may be replaced
 */
public record FitRequest(String name, List<double[][]> sequences, List<double[][]> plausibilities, int states,
                         int order, String topology, int restarts, int maxIterations, long seed, String description,
                         boolean replace) {
}
