package dev.arbor.api.pipeline;

import java.util.List;

/**
 * What a single request may choose instead of the pipeline's own parts (the operator's allow-list): other
 * generators (decoding strategies) and logits processors, by {@code arbor.part} name. The pipeline's own parts are
 * always allowed.
 *
 * @param generators generators a request may name
 * @param processors processors a request's chain may contain
 */
public record PartPolicy(List<String> generators, List<String> processors) {
    public static final PartPolicy NONE = new PartPolicy(List.of(), List.of());

    public PartPolicy {
        generators = generators == null ? List.of() : List.copyOf(generators);
        processors = processors == null ? List.of() : List.copyOf(processors);
    }
}
