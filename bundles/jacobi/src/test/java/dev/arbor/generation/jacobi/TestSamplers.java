package dev.arbor.generation.jacobi;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.sampling.SamplingMath;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Local selectors with the contract of the sampling bundle's {@code greedy} and {@code sample} parts (argmax with a
 * one-hot distribution; inverse-CDF sampling of softmax with one {@code nextDouble} per call), plus a
 * history-dependent processor, so these tests need no OSGi services.
 */
final class TestSamplers {
    private TestSamplers() {
    }

    static final TokenSelector ARGMAX = (logits, context) -> {
        double[] logp = SamplingMath.logSoftmax(logits);
        int best = SamplingMath.argmax(logits);
        float[] oneHot = new float[logits.length];
        oneHot[best] = 1f;
        return new Selection(best, oneHot, logp[best], Math.exp(logp[best]));
    };

    static final TokenSelector INVERSE_CDF = (logits, context) -> {
        double[] p = SamplingMath.softmax(logits);
        int token = SamplingMath.inverseCdf(p, context.random().nextDouble());
        return new Selection(token, SamplingMath.toFloat(p), Math.log(p[token]), p[token]);
    };

    /**
     * Subtracts {@code penalty} from the logit of every token already generated (prompt excluded): a
     * HISTORY_DEPENDENT processor whose effect is wrong unless each window position gets its own history.
     */
    static LogitsProcessor generatedPenalty(double penalty) {
        return (logits, context) -> {
            for (int i = context.promptLength(); i < context.length(); i++) {
                int t = context.token(i);
                logits[t] = (float) (logits[t] - penalty);
            }
        };
    }

    static Supplier<Sampler> greedy(LogitsProcessor... processors) {
        return () -> new Sampler(List.of(processors), ARGMAX);
    }

    static Supplier<Sampler> sampling(LogitsProcessor... processors) {
        return () -> new Sampler(List.of(processors), INVERSE_CDF);
    }

    static GenerationContext context(ModelBackend model, int[] prompt, int maxNewTokens, Supplier<Sampler> samplers,
                                     int[] stopTokens, long seed, Map<String, ?> options) {
        return new GenerationContext(model, null, prompt, maxNewTokens, samplers, stopTokens, seed,
                Options.of(options), Cancellation.NEVER);
    }
}
