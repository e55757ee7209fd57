package dev.arbor.api.pipeline;

import dev.arbor.api.generation.FinishReason;
import java.util.Map;

/**
 * The finished answer to a {@link CompletionRequest}.
 *
 * @param pipeline       the pipeline that served it
 * @param text           generated text (stop string excluded), after post-processing
 * @param promptTokens   prompt ids as fed to the model
 * @param tokens         generated ids
 * @param logProbs       log-probability of each generated token
 * @param finishReason   why it ended
 * @param timeToFirstTokenNanos from request start to the first token
 * @param totalNanos     from request start to the end
 * @param stats          strategy figures and post-processor annotations
 */
public record Completion(String pipeline, String text, int[] promptTokens, int[] tokens, double[] logProbs,
                         FinishReason finishReason, long timeToFirstTokenNanos, long totalNanos,
                         Map<String, Object> stats) {
}
