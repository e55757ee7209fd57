package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.SplittableRandom;

/**
 * Block diffusion (BD3-LMs, Arriola et al. 2025), trained vectorised as in BD3-LMs and Fast-dLLM v2 (Wu et al. 2025):
 * the sequence is cut into blocks of {@code blockSize}; per block a masking ratio t ~ U(eps, 1) masks its tokens;
 * the input is the concatenation [x_t ; x_0] (2L tokens, both halves at positions 0..L-1). Noisy block b sees the
 * clean blocks before b and itself bidirectionally; clean block b sees clean blocks up to b (block-causal). The loss
 * is the 1/t-weighted cross-entropy on the masked tokens of x_t (row i predicts position i), averaged over B*L.
 *
 * <p>At inference this is {@code AttentionSpec.Segments} with segment = block index: committed (clean) blocks
 * block-causal, the block being denoised bidirectional and seeing every earlier block, which is the same visibility
 * as the noisy half here.
 */
public final class BlockDiffusionObjective implements TrainingObjective {
    private final int maskId;
    private final double eps;
    private final int blockSize;

    public BlockDiffusionObjective(int maskId, double eps, int blockSize) {
        this.maskId = maskId;
        this.eps = eps;
        this.blockSize = blockSize;
    }

    @Override
    public int windowLength(int seqLen) {
        return seqLen;
    }

    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int l = windows[0].length;
        int[][] in = new int[b][2 * l];
        int[][] pos = new int[b][2 * l];
        float[][] w = new float[b][l];
        for (int r = 0; r < b; r++) {
            double rate = 0;
            for (int j = 0; j < l; j++) {
                if (j % blockSize == 0) {
                    rate = eps + (1 - eps) * rng.nextDouble();
                }
                boolean masked = rng.nextDouble() < rate;
                in[r][j] = masked ? maskId : windows[r][j];
                w[r][j] = masked ? (float) (1 / rate) : 0f;
                in[r][l + j] = windows[r][j];
                pos[r][j] = j;
                pos[r][l + j] = j;
            }
        }
        return new Batch(in, pos, windows, w, l, (double) b * l);
    }

    @Override
    public NDArray bias(NDManager scope, int inputLength) {
        int l = inputLength / 2;
        return LlamaNet.bias(scope, inputLength, (q, k) -> visible(q, k, l, blockSize));
    }

    /** The BD3-LM training mask over [x_t ; x_0]; public for the test that checks it against Segments. */
    static boolean visible(int q, int k, int l, int blockSize) {
        boolean qNoisy = q < l;
        boolean kNoisy = k < l;
        int qb = (q % l) / blockSize;
        int kb = (k % l) / blockSize;
        if (qNoisy) {
            return kNoisy ? kb == qb : kb < qb;
        }
        return !kNoisy && kb <= qb;
    }
}
