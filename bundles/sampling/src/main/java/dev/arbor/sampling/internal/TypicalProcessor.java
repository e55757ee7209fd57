package dev.arbor.sampling.internal;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.sampling.SamplingMath;
import java.util.Set;

/**
 * Locally typical sampling (Meister et al. 2022, "Locally Typical Sampling"). With {@code H = -sum p log p},
 * score each token by {@code s_i = |-log p_i - H|}; sort by ascending s (ties: lower id); let m be the number
 * of leading tokens whose cumulative probability is {@code < typical_p}; remove every token with
 * {@code s_i > s_(m)} (so the token that reaches the mass, and all its ties, stay), keeping at least the first
 * {@code min_tokens_to_keep}. Source: HF {@code TypicalLogitsWarper}. In double, over the tokens not already
 * -inf (HF's nansum skips those too). Not argmax-invariant: the most probable token can be atypical.
 */
final class TypicalProcessor implements LogitsProcessor {
    private final double mass;
    private final int minTokensToKeep;

    TypicalProcessor(double mass, int minTokensToKeep) {
        if (!(mass > 0 && mass <= 1) || minTokensToKeep < 1) {
            throw new IllegalArgumentException("typical_p must be in (0, 1] and min_tokens_to_keep >= 1");
        }
        this.mass = mass;
        this.minTokensToKeep = minTokensToKeep;
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        // Candidates (tokens not yet removed) in ascending id order, so the stable sort below breaks ties by id.
        int n = 0;
        double max = Float.NEGATIVE_INFINITY;
        for (float v : logits) {
            if (v != Float.NEGATIVE_INFINITY) {
                n++;
                max = Math.max(max, v);
            }
        }
        if (n <= minTokensToKeep) {
            return;
        }
        int[] ids = new int[n];
        for (int i = 0, c = 0; i < logits.length; i++) {
            if (logits[i] != Float.NEGATIVE_INFINITY) {
                ids[c++] = i;
            }
        }
        double sum = 0;
        for (int id : ids) {
            sum += Math.exp(logits[id] - max);
        }
        double logSum = max + Math.log(sum);
        double[] logP = new double[n];
        double entropy = 0;
        for (int c = 0; c < n; c++) {
            logP[c] = logits[ids[c]] - logSum;
            entropy -= Math.exp(logP[c]) * logP[c];
        }
        double[] shifted = new double[n];
        for (int c = 0; c < n; c++) {
            shifted[c] = Math.abs(-logP[c] - entropy);
        }
        int[] order = SamplingMath.argsortAscending(shifted);
        // HF: last_ind = count(cumsum < mass), clamped to the last index; cumsum is monotone, so count leading.
        double cumulative = 0;
        int lastIndex = 0;
        while (lastIndex < n - 1) {
            cumulative += Math.exp(logP[order[lastIndex]]);
            if (cumulative >= mass) {
                break;
            }
            lastIndex++;
        }
        double threshold = shifted[order[lastIndex]];
        for (int r = minTokensToKeep; r < n; r++) {
            if (shifted[order[r]] > threshold) {
                logits[ids[order[r]]] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    @Override
    public Set<Trait> traits() {
        return Traits.ROW_FUNCTION;
    }
}
