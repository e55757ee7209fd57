package dev.arbor.sampling.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/** Part {@code top-p}; options {@code top_p} in (0, 1] (1 or absent = off), {@code min_tokens_to_keep} >= 1. */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=top-p",
    PartProperties.DESCRIPTION + "=Nucleus filtering to cumulative probability top_p (HF top_k_top_p_filtering)"})
public final class TopPFactory implements LogitsProcessorFactory {
    static final String TOP_P = "top_p";

    @Override
    public LogitsProcessor create(Options options) {
        double p = Checks.positive(options, TOP_P, 1.0, 1.0);
        int minKeep = Checks.minTokensToKeep(options);
        return p == 1 ? new IdentityProcessor(traits()) : new TopPProcessor(p, minKeep);
    }

    @Override
    public Set<Trait> traits() {
        return Traits.ARGMAX_INVARIANT_FILTER;
    }
}
