package dev.arbor.api.generation;

import java.util.Map;

/**
 * The outcome of one request.
 *
 * @param tokens         generated ids (prompt excluded; stop token excluded)
 * @param logProbs       log-probability of each generated token under the processed distribution
 * @param finishReason   why it ended
 * @param forwardPasses  backend forward calls made (prefill included)
 * @param stats          strategy-specific figures (acceptance rate, beam scores, ...)
 */
public record GenerationResult(int[] tokens, double[] logProbs, FinishReason finishReason, int forwardPasses,
                               Map<String, Object> stats) {

    public GenerationResult {
        stats = stats == null ? Map.of() : Map.copyOf(stats);
    }
}
