package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.SplittableRandom;

/**
 * LLaDA's masked-diffusion objective (Nie et al. 2025, "Large Language Diffusion Models", eq. 3; the MDLM bound of
 * Sahoo et al. 2024): per sequence a masking ratio t ~ U(eps, 1); every token is independently replaced by MASK
 * with probability t; bidirectional attention; cross-entropy on the masked positions only (row i predicts the clean
 * token at position i), weighted by 1/t and averaged over all B*L positions. Its expectation is an upper bound on
 * the negative log-likelihood per token, so exp(loss) on held-out data bounds the perplexity.
 */
public final class MaskedDiffusionObjective implements TrainingObjective {
    private final int maskId;
    private final double eps;

    public MaskedDiffusionObjective(int maskId, double eps) {
        this.maskId = maskId;
        this.eps = eps;
    }

    @Override
    public int windowLength(int seqLen) {
        return seqLen;
    }

    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int t = windows[0].length;
        int[][] in = new int[b][t];
        float[][] w = new float[b][t];
        for (int r = 0; r < b; r++) {
            double rate = eps + (1 - eps) * rng.nextDouble();
            for (int j = 0; j < t; j++) {
                boolean masked = rng.nextDouble() < rate;
                in[r][j] = masked ? maskId : windows[r][j];
                w[r][j] = masked ? (float) (1 / rate) : 0f;
            }
        }
        return new Batch(in, TrainingObjective.sequentialPositions(b, t), windows, w, t, (double) b * t);
    }

    @Override
    public NDArray bias(NDManager scope, int t) {
        return null;
    }
}
