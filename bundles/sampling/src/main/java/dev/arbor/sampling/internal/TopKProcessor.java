package dev.arbor.sampling.internal;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.sampling.SamplingMath;
import java.util.Set;

/**
 * Top-k filtering: with {@code k' = min(max(k, min_tokens_to_keep), V)} and {@code t} the k'-th largest logit
 * (equal values counted separately), every {@code l_i < t} becomes -inf. Tokens tied with t are all kept, so
 * more than k tokens may survive. Source: HF {@code TopKLogitsWarper} ({@code scores < topk(scores, k)[-1]}).
 */
final class TopKProcessor implements LogitsProcessor {
    private final int k;

    TopKProcessor(int topK, int minTokensToKeep) {
        if (topK < 1 || minTokensToKeep < 1) {
            throw new IllegalArgumentException("top_k and min_tokens_to_keep must be >= 1");
        }
        this.k = Math.max(topK, minTokensToKeep);
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        if (k >= logits.length) {
            return;
        }
        float threshold = SamplingMath.kthLargest(logits, k);
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] < threshold) {
                logits[i] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    @Override
    public Set<Trait> traits() {
        return Traits.ARGMAX_INVARIANT_FILTER;
    }
}
