package dev.arbor.generation.stree;

import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.sampling.SamplingMath;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * Local selectors and processors (the sampling bundle's parts are services, not exported types) and a context whose
 * model resolver hands out a given draft.
 */
final class TestSupport {
    private TestSupport() {
    }

    static final ModelRef TARGET_REF = new ModelRef("test", "oracle", "target.bin", Options.empty());

    /** Argmax, lowest id on ties, one-hot distribution (as the sampling bundle's greedy selector). */
    static final TokenSelector ARGMAX = (logits, context) -> {
        int best = SamplingMath.argmax(logits);
        float[] oneHot = new float[logits.length];
        oneHot[best] = 1f;
        double lp = logits[best] - SamplingMath.logSumExp(logits);
        return new Selection(best, oneHot, lp, Math.exp(lp));
    };

    /** Inverse-CDF sampling of softmax(logits), one uniform per call (as the sampling bundle's sample selector). */
    static final TokenSelector SAMPLE = (logits, context) -> {
        double[] p = SamplingMath.softmax(logits);
        int t = SamplingMath.inverseCdf(p, context.random().nextDouble());
        return new Selection(t, SamplingMath.toFloat(p), Math.log(p[t]), p[t]);
    };

    static Supplier<Sampler> greedy(LogitsProcessor... processors) {
        return () -> new Sampler(List.of(processors), ARGMAX);
    }

    static Supplier<Sampler> sampling(LogitsProcessor... processors) {
        return () -> new Sampler(List.of(processors), SAMPLE);
    }

    /** Temperature, a pure row function declared speculative-safe. */
    static LogitsProcessor temperature(double t) {
        return new LogitsProcessor() {
            @Override
            public void process(float[] logits, SamplingContext context) {
                for (int i = 0; i < logits.length; i++) {
                    logits[i] = (float) (logits[i] / t);
                }
            }

            @Override
            public Set<Trait> traits() {
                return Set.of(Trait.ARGMAX_INVARIANT, Trait.SPECULATIVE_SAFE);
            }
        };
    }

    /**
     * HF-style repetition penalty over the generated tokens (history-dependent): a logit of a token already generated
     * is multiplied by {@code penalty} when negative, divided when positive.
     */
    static LogitsProcessor repetitionPenalty(double penalty) {
        return new LogitsProcessor() {
            @Override
            public void process(float[] logits, SamplingContext context) {
                boolean[] seen = new boolean[logits.length];
                for (int i = context.promptLength(); i < context.length(); i++) {
                    seen[context.token(i)] = true;
                }
                for (int v = 0; v < logits.length; v++) {
                    if (seen[v]) {
                        logits[v] = (float) (logits[v] < 0 ? logits[v] * penalty : logits[v] / penalty);
                    }
                }
            }

            @Override
            public Set<Trait> traits() {
                return Set.of(Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE);
            }
        };
    }

    /** A resolver whose target is {@link #TARGET_REF} and which opens {@code draft} for any ref, recording it. */
    static final class DraftResolver implements ModelResolver {
        final ModelBackend draft;
        final List<ModelRef> opened = new ArrayList<>();

        DraftResolver(ModelBackend draft) {
            this.draft = draft;
        }

        @Override
        public ModelRef target() {
            return TARGET_REF;
        }

        @Override
        public ModelBackend open(ModelRef ref) {
            opened.add(ref);
            return draft;
        }
    }

    /** Default draft option: a ref the resolver answers with its draft. */
    static final Map<String, Object> DRAFT = Map.of("draft", Map.of("backend", "test", "format", "oracle", "path",
            "draft.bin"));

    static GenerationContext context(ModelBackend target, ModelResolver models, int[] prompt, int maxNew,
                                     Supplier<Sampler> samplers, int[] stops, long seed, Map<String, ?> options) {
        return new GenerationContext(target, null, prompt, maxNew, samplers, stops, seed, Options.of(options),
                Cancellation.NEVER, models);
    }

    static Map<String, Object> with(Map<String, ?> base, Object... keyValues) {
        Map<String, Object> m = new java.util.LinkedHashMap<>(base);
        for (int i = 0; i < keyValues.length; i += 2) {
            m.put((String) keyValues[i], keyValues[i + 1]);
        }
        return m;
    }
}
