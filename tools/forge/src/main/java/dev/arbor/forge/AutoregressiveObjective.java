package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import java.util.Arrays;
import java.util.SplittableRandom;

/** Next-token prediction (Bengio et al. 2003; Radford et al. 2018): causal attention, row i predicts token i+1. */
public final class AutoregressiveObjective implements TrainingObjective {

    @Override
    public int windowLength(int seqLen) {
        return seqLen + 1;
    }

    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int t = windows[0].length - 1;
        int[][] in = new int[b][];
        int[][] tgt = new int[b][];
        float[][] w = new float[b][t];
        for (int r = 0; r < b; r++) {
            in[r] = Arrays.copyOfRange(windows[r], 0, t);
            tgt[r] = Arrays.copyOfRange(windows[r], 1, t + 1);
            Arrays.fill(w[r], 1f);
        }
        return new Batch(in, TrainingObjective.sequentialPositions(b, t), tgt, w, t, (double) b * t);
    }

    @Override
    public NDArray bias(NDManager scope, int t) {
        return LlamaNet.bias(scope, t, (q, k) -> k <= q);
    }
}
