package dev.arbor.speculative;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.testkit.TestSelectors;
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

    /** Argmax; see {@link TestSelectors#ARGMAX}. */
    public static final TokenSelector ARGMAX = TestSelectors.ARGMAX;

    /** Inverse-CDF sampling; see {@link TestSelectors#INVERSE_CDF}. */
    public static final TokenSelector INVERSE_CDF = TestSelectors.INVERSE_CDF;

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
        return TestSelectors.softmax(logits);
    }
}
