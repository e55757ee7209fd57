package dev.arbor.sampling.internal;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.Set;

/**
 * Temperature scaling: {@code l_i <- l_i / T}, T > 0. Source: HF {@code TemperatureLogitsWarper}.
 * The quotient is taken in double and rounded once to float. -inf stays -inf. T = 0 (greedy) is not this
 * processor's business: the factory returns an identity and the {@code sample} selector takes the argmax.
 */
final class TemperatureProcessor implements LogitsProcessor {
    private final double temperature;

    TemperatureProcessor(double temperature) {
        if (!(temperature > 0)) {
            throw new IllegalArgumentException("temperature must be > 0, got " + temperature);
        }
        this.temperature = temperature;
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        for (int i = 0; i < logits.length; i++) {
            logits[i] = (float) (logits[i] / temperature);
        }
    }

    @Override
    public Set<Trait> traits() {
        return Traits.ARGMAX_INVARIANT_FILTER;
    }
}
