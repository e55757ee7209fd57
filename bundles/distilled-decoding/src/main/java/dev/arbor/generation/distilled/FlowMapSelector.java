package dev.arbor.generation.distilled;

import dev.arbor.api.ArborException;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import java.util.Arrays;
import java.util.random.RandomGenerator;

/**
 * Distilled Decoding's teacher flow map as a token selector (Liu et al. 2024, METHODS.md §3.17): each call draws one
 * noise vector {@code ε ~ N(0, I_d)} from the request's seeded RNG ({@code d} standard Gaussians, in order) and
 * returns the {@link FlowMap} token of {@code ε} under the softmax of the processed logits. The token's law is that
 * softmax (the flow-matching marginal property, tested), so a pipeline keeps its output distribution while its
 * tokens become a deterministic function of the noise — the pairs DD distils. Ids with a finite logit must have a
 * code vector (ids {@code 0..K−1}); image generators set every non-code to {@code -inf} before the selector.
 * In greedy mode (temperature 0) the law is a point mass and the selector takes the argmax without drawing noise.
 */
final class FlowMapSelector implements TokenSelector {
    private final FlowMap flow;
    private final boolean greedy;

    FlowMapSelector(FlowMap flow, boolean greedy) {
        this.flow = flow;
        this.greedy = greedy;
    }

    @Override
    public Selection select(float[] logits, SamplingContext context) {
        int k = flow.size();
        double max = Double.NEGATIVE_INFINITY;
        int best = -1;
        for (int i = 0; i < logits.length; i++) {
            float l = logits[i];
            if (Float.isNaN(l) || l == Float.POSITIVE_INFINITY) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "flow-map received logit " + l
                        + " at id " + i + "; a processor before it produced an invalid value");
            }
            if (l == Float.NEGATIVE_INFINITY) {
                continue;
            }
            if (i >= k) {
                throw ArborException.invalid("flow-map has code vectors for ids 0-" + (k - 1) + " only, but id " + i
                        + " has a finite logit; use it with an image generator that masks non-codes (raster-ar) "
                        + "or a codebook that covers the vocabulary");
            }
            if (l > max) {
                max = l;
                best = i;
            }
        }
        if (best < 0) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "flow-map received only -inf logits: the "
                    + "processors removed every token");
        }
        double sum = 0;
        float[] p = new float[logits.length];
        for (int i = 0; i < k && i < logits.length; i++) {
            if (logits[i] != Float.NEGATIVE_INFINITY) {
                sum += Math.exp(logits[i] - max);
            }
        }
        for (int i = 0; i < k && i < logits.length; i++) {
            if (logits[i] != Float.NEGATIVE_INFINITY) {
                p[i] = (float) (Math.exp(logits[i] - max) / sum);
            }
        }
        int token;
        if (greedy) {
            token = best;
        } else {
            RandomGenerator random = context.random();
            double[] eps = new double[flow.dim()];
            for (int j = 0; j < eps.length; j++) {
                eps[j] = random.nextGaussian();
            }
            float[] law = Arrays.copyOf(logits, k);
            for (int i = logits.length; i < k; i++) {
                law[i] = Float.NEGATIVE_INFINITY; // a vocabulary smaller than the codebook: the rest has no id
            }
            token = flow.map(law, eps);
        }
        double logp = logits[token] - max - Math.log(sum);
        return new Selection(token, p, logp, Math.exp(logp));
    }
}
