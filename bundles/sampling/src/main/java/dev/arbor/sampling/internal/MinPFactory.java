package dev.arbor.sampling.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/** Part {@code min-p}; options {@code min_p} in [0, 1] (0 or absent = off), {@code min_tokens_to_keep} >= 1. */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=min-p",
    PartProperties.DESCRIPTION + "=Keeps tokens with p >= min_p * p_max (HF MinPLogitsWarper, Nguyen et al. 2024)"})
public final class MinPFactory implements LogitsProcessorFactory {
    static final String MIN_P = "min_p";

    @Override
    public LogitsProcessor create(Options options) {
        double p = options.number(MIN_P, 0.0, 0, 1);
        int minKeep = Checks.minTokensToKeep(options);
        return p == 0 ? new IdentityProcessor(traits()) : new MinPProcessor(p, minKeep);
    }

    @Override
    public Set<Trait> traits() {
        return Traits.ARGMAX_INVARIANT_FILTER;
    }
}
