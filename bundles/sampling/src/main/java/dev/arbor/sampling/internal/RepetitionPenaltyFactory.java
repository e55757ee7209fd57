package dev.arbor.sampling.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/** Part {@code repetition-penalty}; option {@code repetition_penalty} in (0, 100], 1 or absent = off. */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=repetition-penalty",
    PartProperties.DESCRIPTION + "=Divides positive / multiplies negative logits of every token in the history (HF RepetitionPenaltyLogitsProcessor)"})
public final class RepetitionPenaltyFactory implements LogitsProcessorFactory {
    static final String REPETITION_PENALTY = "repetition_penalty";

    @Override
    public LogitsProcessor create(Options options) {
        double penalty = Checks.positive(options, REPETITION_PENALTY, 1.0, Checks.MAX_SCALE);
        return penalty == 1 ? new IdentityProcessor(traits()) : new RepetitionPenaltyProcessor(penalty);
    }

    @Override
    public Set<Trait> traits() {
        return Traits.HISTORY;
    }
}
