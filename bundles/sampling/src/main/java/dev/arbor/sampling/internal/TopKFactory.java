package dev.arbor.sampling.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/** Part {@code top-k}; options {@code top_k} >= 0 (0 or absent = off) and {@code min_tokens_to_keep} >= 1. */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=top-k",
    PartProperties.DESCRIPTION + "=Keeps the top_k largest logits, ties kept (HF TopKLogitsWarper)"})
public final class TopKFactory implements LogitsProcessorFactory {
    static final String TOP_K = "top_k";

    @Override
    public LogitsProcessor create(Options options) {
        int k = options.integer(TOP_K, 0, 0, Integer.MAX_VALUE);
        int minKeep = Checks.minTokensToKeep(options);
        return k == 0 ? new IdentityProcessor(traits()) : new TopKProcessor(k, minKeep);
    }

    @Override
    public Set<Trait> traits() {
        return Traits.ARGMAX_INVARIANT_FILTER;
    }
}
