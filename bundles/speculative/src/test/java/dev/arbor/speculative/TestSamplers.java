package dev.arbor.speculative;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import java.util.Set;

/**
 * Local selectors and processors, so these tests do not depend on the sampling bundle's internal classes: argmax
 * (one-hot distribution, no RNG) and inverse-CDF sampling of softmax(logits) with one nextDouble per call, both
 * in double precision; a temperature and a history-dependent repetition penalty (HF's rule: divide positive
 * logits, multiply negative ones, for every token already in the history).
 */
public final class TestSamplers {
    private TestSamplers() {
    }

    public static final TokenSelector ARGMAX = (logits, context) -> {
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

    public static final TokenSelector INVERSE_CDF = (logits, context) -> {
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

    /** Divides logits by {@code t} (argmax invariant, speculative safe). */
    public static LogitsProcessor temperature(double t) {
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

    /** HF's repetition penalty over the whole history (history dependent, speculative safe). */
    public static LogitsProcessor repetitionPenalty(double penalty) {
        return new LogitsProcessor() {
            @Override
            public void process(float[] logits, SamplingContext context) {
                boolean[] seen = new boolean[logits.length];
                for (int i = 0; i < context.length(); i++) {
                    int t = context.token(i);
                    if (t >= 0 && t < logits.length) {
                        seen[t] = true;
                    }
                }
                for (int v = 0; v < logits.length; v++) {
                    if (seen[v] && logits[v] != Float.NEGATIVE_INFINITY) {
                        logits[v] = (float) (logits[v] > 0 ? logits[v] / penalty : logits[v] * penalty);
                    }
                }
            }

            @Override
            public Set<Trait> traits() {
                return Set.of(Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE);
            }

            @Override
            public String toString() {
                return "repetition-penalty";
            }
        };
    }

    public static double[] softmax(float[] logits) {
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
}
