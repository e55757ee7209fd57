package dev.arbor.testkit;

import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;

/**
 * Minimal token selectors for tests of decoding strategies that must not depend on the sampling bundle: argmax, and
 * inverse-CDF sampling of softmax(logits) with exactly one {@code context.random().nextDouble()} per token (the
 * consumption order exactness tests rely on).
 */
public final class TestSelectors {
    private TestSelectors() {
    }

    /** Argmax (first maximum); one-hot distribution; log-probability and confidence from softmax(logits). */
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

    /** Inverse-CDF sampling of softmax(logits) over ids in ascending order, on the context's RNG. */
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

    /** softmax in double precision (max-subtracted). */
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
