package dev.arbor.sampling.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.sampling.SamplingMath;

/**
 * Categorical sampling from {@code p = softmax(l)}, computed in double (as {@code torch.multinomial} on HF's
 * processed scores). <b>RNG consumption, which determinism depends on:</b> exactly one
 * {@code context.random().nextDouble()} per call, {@code u}; the token is the smallest id i (ids scanned in
 * ascending order) with {@code u * S < e_0 + ... + e_i}, where {@code e_j = exp(l_j - max l)} and
 * {@code S = sum_j e_j} (see {@link SamplingMath#inverseCdf}). Tokens at -inf have e = 0 and are never drawn.
 * Returns p (as float) as the distribution, {@code log p_token} in double and {@code p_token} as confidence.
 * Temperature is applied by the {@code temperature} processor before this, not here.
 */
final class CategoricalSelector implements TokenSelector {
    static final CategoricalSelector INSTANCE = new CategoricalSelector();

    private CategoricalSelector() {
    }

    @Override
    public Selection select(float[] logits, SamplingContext context) {
        double max;
        try {
            max = SamplingMath.maxLogit(logits);
        } catch (IllegalArgumentException e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "sample selector: " + e.getMessage(), e);
        }
        double[] weights = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < weights.length; i++) {
            weights[i] = Math.exp(logits[i] - max);
            sum += weights[i];
        }
        int token = SamplingMath.inverseCdf(weights, context.random().nextDouble());
        float[] distribution = new float[weights.length];
        for (int i = 0; i < weights.length; i++) {
            distribution[i] = (float) (weights[i] / sum);
        }
        double logProbability = (logits[token] - max) - Math.log(sum);
        return new Selection(token, distribution, logProbability, weights[token] / sum);
    }
}
