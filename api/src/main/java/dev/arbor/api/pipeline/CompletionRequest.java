package dev.arbor.api.pipeline;

import dev.arbor.api.Options;
import java.util.List;
import java.util.Objects;

/**
 * One request to a pipeline: a prompt (text, or token ids for token-level work) and per-request options that
 * override the pipeline's defaults. Option names follow the OpenAI API: {@code max_tokens}, {@code temperature},
 * {@code top_p}, {@code top_k}, {@code min_p}, {@code seed}, {@code num_beams}, ...; {@code logprobs} (boolean) and
 * {@code top_logprobs} (0 to 20) make the platform stream each token through
 * {@link TextSink#onToken(String, ScoredToken, List)} with its bytes and that many alternatives (since 1.4).
 *
 * @param pipeline  the pipeline name
 * @param prompt    prompt text (null when {@code inputIds} is given)
 * @param inputIds  prompt ids used as they are (null when {@code prompt} is given)
 * @param stop      stop strings; generation ends before the first one, which is not returned
 * @param generator  a different decoding strategy for this request only (null = the pipeline's)
 * @param processors a different logits-processor chain for this request only (null = the pipeline's)
 * @param options    per-request options
 */
public record CompletionRequest(String pipeline, String prompt, int[] inputIds, List<String> stop,
                                PartRef generator, List<PartRef> processors, Options options) {
    public CompletionRequest {
        Objects.requireNonNull(pipeline, "pipeline");
        if ((prompt == null) == (inputIds == null)) {
            throw new IllegalArgumentException("give exactly one of prompt or inputIds");
        }
        stop = stop == null ? List.of() : List.copyOf(stop);
        processors = processors == null ? null : List.copyOf(processors);
        options = options == null ? Options.empty() : options;
    }

    public static CompletionRequest text(String pipeline, String prompt, Options options) {
        return new CompletionRequest(pipeline, prompt, null, List.of(), null, null, options);
    }
}
