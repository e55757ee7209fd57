package dev.arbor.api.generation;

import dev.arbor.api.Trait;
import java.util.Set;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * A decoding strategy (autoregressive, beam search, speculative, diffusion, ...); registered as a service with
 * {@code arbor.part} set to its name. Stateless between requests; several requests may run at once.
 */
@ConsumerType
public interface Generator {

    /** Decodes one request on the calling thread, streaming committed tokens to {@code sink}; never returns null. */
    GenerationResult generate(GenerationContext context, TokenSink sink);

    /** What this strategy needs (e.g. {@link Trait#NEEDS_STATE_TRUNCATE}); checked when a pipeline is configured. */
    default Set<Trait> requirements() {
        return Set.of();
    }

    /**
     * Refuses processor traits this strategy cannot honour, returning a reason or null when they are fine.
     * Called at configuration time with the union of the pipeline's processor traits.
     */
    default String incompatibility(Set<Trait> processorTraits) {
        return null;
    }

    /**
     * The options that hold model references (e.g. {@code draft}, {@code guide}), read with
     * {@link ModelResolver#reference}; the platform opens them when an operator defines a pipeline, so a broken
     * reference is refused then instead of failing every request.
     */
    default Set<String> modelOptions() {
        return Set.of();
    }

    /**
     * Whether every token this strategy commits was selected left to right, with the processors applied to that
     * position's own history and nothing committed that the processed distribution gave probability zero
     * (autoregressive loops, beam search, speculative verification). Processors with
     * {@link Trait#CONSTRAINS_OUTPUT} run only under strategies that say so; the default is the safe answer.
     * Since 1.3.
     */
    default boolean commitsInOrder() {
        return false;
    }
}
