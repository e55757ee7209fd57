package dev.arbor.testkit;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** Generation contexts for generator tests, with the test kit's selectors (no dependency on the sampling bundle). */
public final class TestContexts {
    private TestContexts() {
    }

    /** Samplers that take the argmax (greedy decoding). */
    public static Supplier<Sampler> greedy() {
        return () -> new Sampler(List.of(), TestSelectors.ARGMAX);
    }

    /** Samplers that draw from the unprocessed distribution by inverse CDF. */
    public static Supplier<Sampler> sampling() {
        return () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF);
    }

    /** A context without a model resolver that is never cancelled. */
    public static GenerationContext context(ModelBackend model, int[] prompt, int maxNewTokens,
                                            Supplier<Sampler> samplers, int[] stopTokens, long seed,
                                            Map<String, ?> options) {
        return new GenerationContext(model, null, prompt, maxNewTokens, samplers, stopTokens, seed,
                Options.of(options), Cancellation.NEVER);
    }
}
