package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.Set;

/**
 * Refuses a request whose generator commits a token without ever having run the pipeline's fixed processors (a
 * watermark): a strategy that ignores the processor chain would otherwise strip the watermark silently. Generators
 * declare what they cannot honour in {@code incompatibility}; this is the runtime's check that they did.
 */
final class FixedPartGuard {
    private volatile boolean armed;
    private volatile boolean applied;

    /** {@code processor}, recording that it ran; arms the guard (the chain holds a fixed part). */
    LogitsProcessor watch(LogitsProcessor processor) {
        armed = true;
        return new LogitsProcessor() {
            @Override
            public void process(float[] logits, SamplingContext context) {
                applied = true;
                processor.process(logits, context);
            }

            @Override
            public Set<Trait> traits() {
                return processor.traits();
            }
        };
    }

    /** Forgets runs so far (the chain's warm-up on a neutral row is not generation). */
    void reset() {
        applied = false;
    }

    /** Throws INCOMPATIBLE, naming the generator, when a token is committed before any fixed part ran. */
    void checkCommit(String generator, String pipeline) {
        if (armed && !applied) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "generator '" + generator + "' committed a "
                    + "token without applying the fixed logits processors of pipeline '" + pipeline + "' (its "
                    + "watermark); it cannot serve this pipeline, use the pipeline's own generator");
        }
    }
}
