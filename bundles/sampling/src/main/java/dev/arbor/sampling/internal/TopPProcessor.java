package dev.arbor.sampling.internal;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.sampling.SamplingMath;
import java.util.Set;

/**
 * Nucleus (top-p) filtering (Holtzman et al. 2020). Sort tokens by descending probability (ties: lower id
 * first); token at rank r is removed iff its <em>exclusive</em> cumulative probability
 * {@code sum_{j<r} p_j > top_p} and {@code r >= min_tokens_to_keep}; the first token is always kept.
 * Source: HF {@code top_k_top_p_filtering} (descending sort, mask shifted right by one), as METHODS.md section
 * 2.1 prescribes. HF's current {@code TopPLogitsWarper} sorts ascending and removes {@code cumsum <= 1 - top_p},
 * i.e. exclusive sum {@code >= top_p}: the two differ only when a cumulative sum equals top_p exactly.
 * Probabilities in double, over the tokens that are not already -inf.
 */
final class TopPProcessor implements LogitsProcessor {
    private final double topP;
    private final int minTokensToKeep;

    TopPProcessor(double topP, int minTokensToKeep) {
        if (!(topP > 0 && topP <= 1) || minTokensToKeep < 1) {
            throw new IllegalArgumentException("top_p must be in (0, 1] and min_tokens_to_keep >= 1");
        }
        this.topP = topP;
        this.minTokensToKeep = minTokensToKeep;
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        int[] order = SamplingMath.candidatesDescending(logits);
        if (order.length <= minTokensToKeep) {
            return;
        }
        double max = logits[order[0]];
        double[] weights = new double[order.length];
        double sum = 0;
        for (int r = 0; r < order.length; r++) {
            weights[r] = Math.exp(logits[order[r]] - max);
            sum += weights[r];
        }
        double exclusive = 0;
        for (int r = 0; r < order.length; r++) {
            if (r >= minTokensToKeep && exclusive / sum > topP) {
                // Exclusive sums only grow, so every later rank is removed too.
                for (int s = r; s < order.length; s++) {
                    logits[order[s]] = Float.NEGATIVE_INFINITY;
                }
                return;
            }
            exclusive += weights[r];
        }
    }

    @Override
    public Set<Trait> traits() {
        return Traits.ARGMAX_INVARIANT_FILTER;
    }
}
