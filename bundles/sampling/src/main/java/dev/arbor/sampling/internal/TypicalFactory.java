package dev.arbor.sampling.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/** Part {@code typical}; options {@code typical_p} in (0, 1] (1 or absent = off), {@code min_tokens_to_keep}. */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=typical",
    PartProperties.DESCRIPTION + "=Locally typical filtering to mass typical_p (HF TypicalLogitsWarper, Meister et al. 2022)"})
public final class TypicalFactory implements LogitsProcessorFactory {
    static final String TYPICAL_P = "typical_p";

    @Override
    public LogitsProcessor create(Options options) {
        double mass = Checks.positive(options, TYPICAL_P, 1.0, 1.0);
        int minKeep = Checks.minTokensToKeep(options);
        return mass == 1 ? new IdentityProcessor(traits()) : new TypicalProcessor(mass, minKeep);
    }

    /** Not ARGMAX_INVARIANT: the most probable token can be the least typical one and be removed. */
    @Override
    public Set<Trait> traits() {
        return Traits.ROW_FUNCTION;
    }
}
