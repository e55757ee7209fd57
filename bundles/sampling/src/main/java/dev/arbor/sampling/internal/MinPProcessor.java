package dev.arbor.sampling.internal;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.sampling.SamplingMath;
import java.util.Set;

/**
 * Min-p filtering (Nguyen et al. 2024, "Turning Up the Heat: Min-p Sampling"): keep token i iff
 * {@code p_i >= min_p * p_max}, plus the {@code min_tokens_to_keep} most probable tokens (ties: lower id).
 * Source: HF {@code MinPLogitsWarper}. Since {@code p_i / p_max = exp(l_i - l_max)}, the test is done on
 * logits in double without normalising: same set, one exp per token, no softmax rounding.
 */
final class MinPProcessor implements LogitsProcessor {
    private final double minP;
    private final int minTokensToKeep;

    MinPProcessor(double minP, int minTokensToKeep) {
        if (!(minP > 0 && minP <= 1) || minTokensToKeep < 1) {
            throw new IllegalArgumentException("min_p must be in (0, 1] and min_tokens_to_keep >= 1");
        }
        this.minP = minP;
        this.minTokensToKeep = minTokensToKeep;
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        double max = Float.NEGATIVE_INFINITY;
        for (float v : logits) {
            max = Math.max(max, v);
        }
        if (max == Float.NEGATIVE_INFINITY) {
            return; // nothing left; the selector reports it
        }
        boolean[] keep = new boolean[logits.length];
        int kept = 0;
        for (int i = 0; i < logits.length; i++) {
            if (Math.exp(logits[i] - max) >= minP) {
                keep[i] = true;
                kept++;
            }
        }
        if (kept < minTokensToKeep) {
            // Only then is an order needed: the sort is skipped on the common path.
            int[] order = SamplingMath.argsortDescending(logits);
            for (int r = 0; r < Math.min(minTokensToKeep, order.length); r++) {
                keep[order[r]] = true;
            }
        }
        for (int i = 0; i < logits.length; i++) {
            if (!keep[i]) {
                logits[i] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    @Override
    public Set<Trait> traits() {
        return Traits.ARGMAX_INVARIANT_FILTER;
    }
}
