package dev.arbor.generation.autoregressive;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.testkit.TestSelectors;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Tiny local selectors, so these tests do not depend on the sampling bundle (written concurrently): argmax, and
 * inverse-CDF sampling from softmax(logits) with one {@code context.random().nextDouble()} per token.
 */
final class TestSamplers {
    private TestSamplers() {
    }

    /** Argmax; see {@link TestSelectors#ARGMAX}. */
    static final TokenSelector ARGMAX = TestSelectors.ARGMAX;

    /** Inverse-CDF sampling; see {@link TestSelectors#INVERSE_CDF}. */
    static final TokenSelector INVERSE_CDF = TestSelectors.INVERSE_CDF;

    static Supplier<Sampler> greedy() {
        return () -> new Sampler(List.of(), ARGMAX);
    }

    static Supplier<Sampler> sampling() {
        return () -> new Sampler(List.of(), INVERSE_CDF);
    }

    /** Sampling after dividing logits by {@code temperature}: the deliberately wrong sampler of power checks. */
    static Supplier<Sampler> tempered(double temperature) {
        LogitsProcessor t = (logits, context) -> {
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) (logits[i] / temperature);
            }
        };
        return () -> new Sampler(List.of(t), INVERSE_CDF);
    }

    static double[] softmax(float[] logits) {
        return TestSelectors.softmax(logits);
    }

    static GenerationContext context(ModelBackend model, int[] prompt, int maxNewTokens, Supplier<Sampler> samplers,
                                     int[] stopTokens, long seed, Map<String, ?> options) {
        return new GenerationContext(model, null, prompt, maxNewTokens, samplers, stopTokens, seed,
                Options.of(options), Cancellation.NEVER);
    }
}
