package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.arbor.api.image.ImageLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * LlamaGen's class-conditional raster-order prior (Sun et al. 2024): the sequence is the class token followed by the
 * image's codes in raster order, causal attention, row i predicts token i+1, so the loss covers every image token
 * and never the class token. With probability {@code condDropout} the class token is replaced by the null class
 * (condition dropout, Ho and Salimans 2022), which trains the unconditional half of classifier-free guidance.
 * A window is one image: {@code [classToken(label), code_0 .. code_{n-1}]} (see {@link ImageData}).
 */
public final class RasterImageObjective implements TrainingObjective {
    private final ImageLayout layout;
    private final double condDropout;

    public RasterImageObjective(ImageLayout layout, double condDropout) {
        if (layout.scaleCount() != 1) {
            throw new IllegalArgumentException("a raster prior needs a single-scale layout, got " + layout);
        }
        this.layout = layout;
        this.condDropout = condDropout;
    }

    /** The same objective without condition dropout (held-out loss of the conditional model). */
    public RasterImageObjective conditional() {
        return new RasterImageObjective(layout, 0);
    }

    @Override
    public int windowLength(int seqLen) {
        return 1 + layout.tokensPerImage();
    }

    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int t = layout.tokensPerImage();
        int[][] in = new int[b][];
        int[][] tgt = new int[b][];
        float[][] w = new float[b][t];
        for (int r = 0; r < b; r++) {
            in[r] = Arrays.copyOfRange(windows[r], 0, t);
            // drawn for every row, so the data order does not depend on the dropout rate
            double u = rng.nextDouble();
            if (u < condDropout) {
                in[r][0] = layout.nullClassToken();
            }
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
