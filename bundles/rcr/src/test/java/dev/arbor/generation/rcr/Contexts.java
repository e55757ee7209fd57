package dev.arbor.generation.rcr;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.TestSelectors;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** Contexts for generator tests, with the testkit's selectors (no dependency on the sampling bundle). */
final class Contexts {
    private Contexts() {
    }

    static Supplier<Sampler> greedy() {
        return () -> new Sampler(List.of(), TestSelectors.ARGMAX);
    }

    static Supplier<Sampler> sampling() {
        return () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF);
    }

    static GenerationContext context(ModelBackend model, int[] prompt, int maxNewTokens, Supplier<Sampler> samplers,
                                     int[] stopTokens, long seed, Map<String, ?> options) {
        return new GenerationContext(model, null, prompt, maxNewTokens, samplers, stopTokens, seed,
                Options.of(options), Cancellation.NEVER);
    }
}
