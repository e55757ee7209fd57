package dev.arbor.generation.cfg;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
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

    static final TokenSelector ARGMAX = (logits, context) -> {
        double[] p = softmax(logits);
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        float[] oneHot = new float[logits.length];
        oneHot[best] = 1f;
        return new Selection(best, oneHot, Math.log(p[best]), p[best]);
    };

    static final TokenSelector INVERSE_CDF = (logits, context) -> {
        double[] p = softmax(logits);
        double u = context.random().nextDouble();
        double cumulative = 0;
        int chosen = -1;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 0) {
                continue;
            }
            chosen = i;
            cumulative += p[i];
            if (u < cumulative) {
                break;
            }
        }
        float[] dist = new float[p.length];
        for (int i = 0; i < p.length; i++) {
            dist[i] = (float) p[i];
        }
        return new Selection(chosen, dist, Math.log(p[chosen]), p[chosen]);
    };

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
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    static GenerationContext context(ModelBackend model, int[] prompt, int maxNewTokens, Supplier<Sampler> samplers,
                                     int[] stopTokens, long seed, Map<String, ?> options) {
        return new GenerationContext(model, null, prompt, maxNewTokens, samplers, stopTokens, seed,
                Options.of(options), Cancellation.NEVER);
    }
}
