package dev.arbor.sampling.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.sampling.SamplingMath;

/**
 * Greedy selection: {@code argmax_i l_i}, the lowest id among ties (as torch.argmax and llama.cpp's greedy
 * sampler). The distribution is one-hot at the token (what was "drawn from", for speculative acceptance);
 * logProbability is {@code log_softmax(l)[token]} and confidence {@code softmax(l)[token]}, both in double
 * from the processed logits. Draws nothing from the RNG.
 */
final class GreedySelector implements TokenSelector {
    static final GreedySelector INSTANCE = new GreedySelector();

    private GreedySelector() {
    }

    @Override
    public Selection select(float[] logits, SamplingContext context) {
        double logSumExp;
        try {
            logSumExp = SamplingMath.logSumExp(logits);
        } catch (IllegalArgumentException e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "greedy selector: " + e.getMessage(), e);
        }
        int token = SamplingMath.argmax(logits);
        double logProbability = logits[token] - logSumExp;
        float[] oneHot = new float[logits.length];
        oneHot[token] = 1f;
        return new Selection(token, oneHot, logProbability, Math.exp(logProbability));
    }
}
