package dev.arbor.sampling.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.SamplingOptions;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/** Part {@code temperature}; option {@code temperature} in [0, 100], absent, 0 and 1 mean "no scaling". */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=temperature",
    PartProperties.DESCRIPTION + "=Divides logits by option 'temperature' (HF TemperatureLogitsWarper); 0 = greedy"})
public final class TemperatureFactory implements LogitsProcessorFactory {
    static final String TEMPERATURE = SamplingOptions.TEMPERATURE;

    @Override
    public LogitsProcessor create(Options options) {
        double t = options.number(TEMPERATURE, 1.0, 0, Checks.MAX_SCALE);
        // 0 is greedy (handled by the selector), 1 is a no-op.
        return t == 0 || t == 1 ? new IdentityProcessor(traits()) : new TemperatureProcessor(t);
    }

    @Override
    public Set<Trait> traits() {
        return Traits.ARGMAX_INVARIANT_FILTER;
    }
}
