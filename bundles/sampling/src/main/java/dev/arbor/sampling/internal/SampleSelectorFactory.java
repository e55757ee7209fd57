package dev.arbor.sampling.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.sampling.SamplingOptions;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.api.sampling.TokenSelectorFactory;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code sample}: categorical sampling ({@link CategoricalSelector}). Reads option {@code temperature}
 * (same range as the {@code temperature} processor) only to decide the mode: 0 selects greedily
 * ({@link GreedySelector}, which draws nothing from the RNG), so one pipeline serves OpenAI's temperature 0
 * and sampled requests. The scaling itself is the {@code temperature} processor's job.
 */
@Component(service = TokenSelectorFactory.class, property = {
    PartProperties.NAME + "=sample",
    PartProperties.DESCRIPTION + "=Samples from softmax of the processed logits with the request's seeded RNG; greedy when temperature is 0"})
public final class SampleSelectorFactory implements TokenSelectorFactory {

    @Override
    public TokenSelector create(Options options) {
        options.number(TemperatureFactory.TEMPERATURE, 1.0, 0, Checks.MAX_SCALE); // validated as the processor does
        return SamplingOptions.greedy(options) ? GreedySelector.INSTANCE : CategoricalSelector.INSTANCE;
    }
}
