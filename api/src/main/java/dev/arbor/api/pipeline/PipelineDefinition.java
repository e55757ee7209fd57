package dev.arbor.api.pipeline;

import dev.arbor.api.Options;
import java.util.List;
import java.util.Objects;

/**
 * A named composition, as declared in a pipeline file under the distribution's {@code etc/pipelines/}.
 *
 * @param name           the pipeline's name (the {@code model} field of API requests)
 * @param description    one line for listings
 * @param model          which backend runs which file
 * @param tokenizer      which tokenizer reads which file
 * @param generator      the decoding strategy
 * @param processors     the logits-processor chain, in order
 * @param selector       the token selector
 * @param postProcessors post-processors, in order
 * @param defaults       request defaults ({@code max_tokens}, {@code temperature}, ...), overridden per request
 * @param overrides      the other generators and processors a request may choose
 */
public record PipelineDefinition(String name, String description, ModelRef model, TokenizerRef tokenizer,
                                 PartRef generator, List<PartRef> processors, PartRef selector,
                                 List<PartRef> postProcessors, Options defaults, PartPolicy overrides) {
    public PipelineDefinition {
        Objects.requireNonNull(name, "pipeline name");
        Objects.requireNonNull(model, "pipeline '" + name + "' has no model");
        Objects.requireNonNull(tokenizer, "pipeline '" + name + "' has no tokenizer");
        Objects.requireNonNull(generator, "pipeline '" + name + "' has no generator");
        Objects.requireNonNull(selector, "pipeline '" + name + "' has no selector");
        description = description == null ? "" : description;
        processors = processors == null ? List.of() : List.copyOf(processors);
        postProcessors = postProcessors == null ? List.of() : List.copyOf(postProcessors);
        defaults = defaults == null ? Options.empty() : defaults;
        overrides = overrides == null ? PartPolicy.NONE : overrides;
    }

    /** The same pipeline with another decoding strategy (operators swapping strategies). */
    public PipelineDefinition withGenerator(PartRef newGenerator) {
        return new PipelineDefinition(name, description, model, tokenizer, newGenerator, processors, selector,
                postProcessors, defaults, overrides);
    }
}
