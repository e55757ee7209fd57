package dev.arbor.api.pipeline;

import java.util.List;

/**
 * Whether a pipeline can serve now.
 *
 * @param name    the pipeline
 * @param ready   true when every part is present and the model is loadable
 * @param missing what is missing or broken, in words (e.g. "logits processor 'top-p'"); empty when ready
 * @param definition the pipeline as configured
 */
public record PipelineStatus(String name, boolean ready, List<String> missing, PipelineDefinition definition) {
    public PipelineStatus {
        missing = missing == null ? List.of() : List.copyOf(missing);
    }

    /** "ready" or "unavailable: needs ..." as shown by listings and 503 responses. */
    public String describe() {
        return ready ? "ready" : "unavailable: needs " + String.join(", ", missing);
    }
}
