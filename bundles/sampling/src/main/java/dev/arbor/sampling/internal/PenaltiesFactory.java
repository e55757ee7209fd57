package dev.arbor.sampling.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code penalties}; options {@code presence_penalty} and {@code frequency_penalty}, each in [-2, 2] as in
 * the OpenAI API, default 0 (both 0 = off).
 */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=penalties",
    PartProperties.DESCRIPTION + "=OpenAI presence_penalty and frequency_penalty over the generated tokens"})
public final class PenaltiesFactory implements LogitsProcessorFactory {
    static final String PRESENCE_PENALTY = "presence_penalty";
    static final String FREQUENCY_PENALTY = "frequency_penalty";

    @Override
    public LogitsProcessor create(Options options) {
        double presence = options.number(PRESENCE_PENALTY, 0.0, -2, 2);
        double frequency = options.number(FREQUENCY_PENALTY, 0.0, -2, 2);
        return presence == 0 && frequency == 0
                ? new IdentityProcessor(traits())
                : new PresenceFrequencyPenaltyProcessor(presence, frequency);
    }

    @Override
    public Set<Trait> traits() {
        return Traits.HISTORY;
    }
}
