package dev.arbor.tests.diffusion;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.CardOverrideBackend;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.api.pipeline.ModelRef;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One generation with one strategy, greedy (argmax, temperature 0: every strategy's deterministic mode), stopping at
 * the model card's EOS ids, with the backend's forward calls counted independently of what the strategy reports.
 *
 * @param result          what the generator returned
 * @param sink            what it streamed (tokens and canvases)
 * @param backendForwards forward calls that reached the diffusion model's backend
 * @param otherForwards   forward calls that reached models the strategy opened through the resolver (a guide)
 * @param nanos           wall-clock time of the generate call
 */
public record DiffusionRun(GenerationResult result, RecordingSink sink, int backendForwards, int otherForwards,
                           long nanos) {

    /**
     * Runs {@code strategy} on {@code model} for {@code prompt}, at most {@code maxTokens} new tokens;
     * {@code resolver} opens the guide, {@code guide} is the guide checkpoint for strategies that need one.
     */
    public static DiffusionRun greedy(DiffusionStrategies.Strategy strategy, ModelBackend model,
                                      ModelResolver resolver, Path guide, int[] prompt, int maxTokens) {
        return greedy(strategy, strategy.options(model.card(), guide), model, resolver, prompt, maxTokens);
    }

    /** As above with explicit options (replacing the strategy's), stopping at the card's EOS ids. */
    public static DiffusionRun greedy(DiffusionStrategies.Strategy strategy, Map<String, Object> options,
                                      ModelBackend model, ModelResolver resolver, int[] prompt, int maxTokens) {
        return greedy(strategy, options, model, resolver, prompt, maxTokens, model.card().eosTokenIds());
    }

    /** As above with explicit stop ids ({@code new int[0]}: decode the whole budget). */
    public static DiffusionRun greedy(DiffusionStrategies.Strategy strategy, Map<String, Object> options,
                                      ModelBackend model, ModelResolver resolver, int[] prompt, int maxTokens,
                                      int[] stopTokens) {
        CardOverrideBackend counted = new CardOverrideBackend(model, model.card());
        List<CardOverrideBackend> opened = new ArrayList<>();
        ModelResolver counting = resolver == null ? null : new ModelResolver() {
            @Override
            public ModelRef target() {
                return resolver.target();
            }

            @Override
            public ModelBackend open(ModelRef ref) {
                ModelBackend m = resolver.open(ref);
                CardOverrideBackend c = new CardOverrideBackend(m, m.card());
                opened.add(c);
                return c;
            }
        };
        GenerationContext context = new GenerationContext(counted, null, prompt, maxTokens,
                () -> new Sampler(List.of(), TestSelectors.ARGMAX), stopTokens, 0,
                Options.of(options), Cancellation.NEVER, counting);
        RecordingSink sink = new RecordingSink();
        long start = System.nanoTime();
        GenerationResult result = strategy.generator().get().generate(context, sink);
        long nanos = System.nanoTime() - start;
        int others = opened.stream().mapToInt(CardOverrideBackend::forwardCalls).sum();
        return new DiffusionRun(result, sink, counted.forwardCalls(), others, nanos);
    }

    /** Emitted tokens. */
    public int[] tokens() {
        return result.tokens();
    }

    /** A statistic the generator reported, as a number (NaN when absent). */
    public double stat(String name) {
        Object v = result.stats().get(name);
        return v instanceof Number n ? n.doubleValue() : Double.NaN;
    }
}
