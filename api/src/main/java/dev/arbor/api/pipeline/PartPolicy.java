package dev.arbor.api.pipeline;

import java.util.List;

/**
 * What a single request may choose instead of the pipeline's own parts (the operator's allow-list): other
 * generators (decoding strategies) and logits processors, by {@code arbor.part} name. The pipeline's own parts are
 * allowed too, except that its fixed processors (those named in {@code fixed}, and every processor whose factory has
 * {@link dev.arbor.api.Trait#WATERMARK}) stay in every request's chain, in their order, with the operator's options.
 *
 * @param generators generators a request may name
 * @param processors processors a request's chain may contain
 * @param fixed      processors of the pipeline's own chain that a request can neither remove, move nor re-option
 */
public record PartPolicy(List<String> generators, List<String> processors, List<String> fixed) {
    public static final PartPolicy NONE = new PartPolicy(List.of(), List.of(), List.of());

    public PartPolicy {
        generators = generators == null ? List.of() : List.copyOf(generators);
        processors = processors == null ? List.of() : List.copyOf(processors);
        fixed = fixed == null ? List.of() : List.copyOf(fixed);
    }

    /** A policy that fixes nothing beyond the processors that declare themselves fixed (watermarks). */
    public PartPolicy(List<String> generators, List<String> processors) {
        this(generators, processors, List.of());
    }
}
