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
 * tokens become a deterministic function of the noise — the pairs DD distils. Image generators set every non-code
 * to {@code -inf}, so only code vectors are used; ids beyond the codebook that still carry a finite logit (a text
 * row, the runtime's warm-up row of zeros) get fixed pseudo-random vectors ({@link #extraVectors}) — the law stays
 * exactly the softmax, since the flow-matching marginal property holds for any distinct vectors; only which noise
 * maps to which of those ids is arbitrary. In greedy mode (temperature 0) the law is a point mass and the selector
 * takes the argmax without drawing noise.
 */
final class FlowMapSelector implements TokenSelector {
    private final float[][] codes;
    private final FlowMap flow;
    private final int steps;
    private final boolean greedy;
    private FlowMap extended;

    FlowMapSelector(float[][] codes, FlowMap flow, int steps, boolean greedy) {
        this.codes = codes;
        this.flow = flow;
        this.steps = steps;
        this.greedy = greedy;
    }

    /**
     * Vectors for ids {@code K..vocab−1}: standard Gaussians from a fixed seed per id, scaled to the codebook's
     * largest norm so they are as far apart as codes are.
     */
    static float[][] extraVectors(float[][] codes, int vocab) {
        int d = codes[0].length;
        double scale = 0;
        for (float[] c : codes) {
            double n = 0;
            for (float v : c) {
                n += v * v;
            }
            scale = Math.max(scale, Math.sqrt(n));
        }
        scale = Math.max(scale, 1) / Math.sqrt(d);
        float[][] all = Arrays.copyOf(codes, vocab);
        for (int id = codes.length; id < vocab; id++) {
            java.util.SplittableRandom rng = new java.util.SplittableRandom(0x666C6F77L + id);
            all[id] = new float[d];
            for (int j = 0; j < d; j++) {
                all[id][j] = (float) (rng.nextGaussian() * scale);
            }
        }
        return all;
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
        boolean beyond = false;
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] != Float.NEGATIVE_INFINITY) {
                sum += Math.exp(logits[i] - max);
                beyond |= i >= k;
            }
        }
        for (int i = 0; i < logits.length; i++) {
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
            FlowMap map = flow;
            int size = k;
            if (beyond) {
                if (extended == null || extended.size() != logits.length) {
                    extended = new FlowMap(extraVectors(codes, logits.length), steps);
                }
                map = extended;
                size = logits.length;
            }
            float[] law = Arrays.copyOf(logits, size);
            for (int i = logits.length; i < size; i++) {
                law[i] = Float.NEGATIVE_INFINITY; // a vocabulary smaller than the codebook: the rest has no id
            }
            token = map.map(law, eps);
        }
        double logp = logits[token] - max - Math.log(sum);
        return new Selection(token, p, logp, Math.exp(logp));
    }
}
