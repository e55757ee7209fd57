package dev.arbor.generation.cfg;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.testkit.TestSelectors;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Small local selectors so these tests depend on no other method bundle's internals: argmax (first maximum) and
 * inverse-CDF sampling of softmax(logits) with one {@code context.random().nextDouble()} per token.
 */
final class Samplers {
    private Samplers() {
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

    /** A chain whose only processor records a copy of every row it is given (the combined row), then selects. */
    static Supplier<Sampler> recording(List<float[]> rows, TokenSelector selector) {
        LogitsProcessor recorder = (logits, context) -> rows.add(logits.clone());
        return () -> new Sampler(List.of(recorder), selector);
    }

    static List<float[]> newRecord() {
        return new ArrayList<>();
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
