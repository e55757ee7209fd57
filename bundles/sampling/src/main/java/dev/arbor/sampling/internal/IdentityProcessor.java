package dev.arbor.sampling.internal;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.Set;

/**
 * What a factory returns when its options make it a no-op (top_p = 1, temperature absent, ...): leaving the
 * part out of the chain costs nothing per token. Carries its factory's traits, so a chain's traits do not
 * depend on the option values.
 */
final class IdentityProcessor implements LogitsProcessor {
    private final Set<Trait> traits;

    IdentityProcessor(Set<Trait> traits) {
        this.traits = traits;
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        // no-op by construction
    }

    @Override
    public Set<Trait> traits() {
        return traits;
    }
}
