package dev.arbor.api.sampling;

import dev.arbor.api.Trait;
import java.util.Set;
import org.osgi.annotation.versioning.ConsumerType;

/** Rewrites one row of logits (penalties, temperature, filtering, bias). One instance serves one request. */
@ConsumerType
@FunctionalInterface
public interface LogitsProcessor {

    /** Rewrites {@code logits} in place for the position after {@code context}'s history; -inf removes a token. */
    void process(float[] logits, SamplingContext context);

    /** What this processor guarantees or needs; pipelines check these at configuration time. */
    default Set<Trait> traits() {
        return Set.of();
    }
}
