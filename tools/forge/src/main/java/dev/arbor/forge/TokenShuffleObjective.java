package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.arbor.api.image.ImageLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Token-Shuffle (Ma et al. 2025, "Token-Shuffle: Towards High-Resolution Image Generation with Autoregressive
 * Models"), teacher-forced on a raster patch-VQ code map: the map (padded to a multiple of the window side s with the
 * code of a blank patch on the right column and bottom row) is regrouped into s×s windows in raster order of windows,
 * ids inside a window in raster order, and the prior predicts one whole window per position.
 * <p>
 * Vocabulary: {@code s²} slots of the layout's ids, {@code s²·layout.vocabSize()} in all; slot h holds the ids of a
 * window's h-th token, so {@code h·V + id}. Position 0's input is the class token (slot 0; the null class with
 * probability {@code condDropout}, for classifier-free guidance); position p >= 1 takes the merged window p-1,
 * {@code Σ_h E[h·V + code_h]}. The paper merges a window by a linear compression of each token's embedding to d/s²
 * and a concatenation along channels (plus residual MLP blocks); a linear map of concatenated embeddings is a sum of
 * slot-specific embedding tables, so this is the linear form of that merge written in the prior's own embedding table
 * (the residual MLP blocks are not reproduced). Causal attention; the row at position p predicts window p with
 * {@code s²} output heads (the logits row is s² slices of V; head h predicts the window's h-th token), alignment NEXT:
 * (H/s)(W/s) forwards per image instead of H·W.
 * <p>
 * The loss is the mean over the image's real tokens of each head's cross-entropy over the codes (its slice restricted
 * to ids 0..codes-1); the padding tokens are not scored: a generator knows them (the blank code) and feeds them.
 * A window of the data is one image: {@code [classToken(label), code_0 .. code_{n-1}]} (see {@link ImageData}).
 */
public final class TokenShuffleObjective implements TrainingObjective {
    private final ImageLayout layout;
    private final int s;
    private final int blank;
    private final double condDropout;
    private final int side;
    private final int padded;
    private final int windows;

    /**
     * @param layout      the raster layout of the tokenizer (one scale)
     * @param window      the window side s (s² heads)
     * @param blankCode   the tokenizer's code of an all-black patch (the padding)
     * @param condDropout probability of replacing the class token by the null class
     */
    public TokenShuffleObjective(ImageLayout layout, int window, int blankCode, double condDropout) {
        if (layout.scaleCount() != 1) {
            throw new IllegalArgumentException("Token-Shuffle needs a single-scale (raster) layout, got " + layout);
        }
        if (window < 1 || !layout.isCode(blankCode)) {
            throw new IllegalArgumentException("window must be >= 1 and the blank code a code, got " + window + ", "
                    + blankCode);
        }
        this.layout = layout;
        this.s = window;
        this.blank = blankCode;
        this.condDropout = condDropout;
        this.side = layout.side(0);
        this.padded = (side + window - 1) / window * window;
        this.windows = (padded / window) * (padded / window);
    }

    /** The same objective without condition dropout (held-out loss of the conditional model). */
    public TokenShuffleObjective conditional() {
        return new TokenShuffleObjective(layout, s, blank, 0);
    }

    /** The window side s. */
    public int window() {
        return s;
    }

    /** Output heads: s². */
    public int heads() {
        return s * s;
    }

    /** The prior's vocabulary: s² slots of the layout's ids. */
    public int vocabSize() {
        return heads() * layout.vocabSize();
    }

    /** Windows per image = positions of the sequence (the class token, then all windows but the last). */
    public int windowsPerImage() {
        return windows;
    }

    /**
     * The image's codes regrouped into windows: {@code [windows][s²]}; the raster map is padded to a multiple of s
     * with the blank code (right columns, bottom rows), windows in raster order, ids inside a window in raster
     * order. Entries that are padding are -1 in {@code real} (when non-null, same shape, 1 = real token).
     */
    public int[][] shuffle(int[] codes, int[][] real) {
        int per = padded / s;
        int[][] out = new int[windows][s * s];
        for (int w = 0; w < windows; w++) {
            int wy = w / per;
            int wx = w % per;
            for (int h = 0; h < s * s; h++) {
                int y = wy * s + h / s;
                int x = wx * s + h % s;
                boolean in = y < side && x < side;
                out[w][h] = in ? codes[y * side + x] : blank;
                if (real != null) {
                    real[w][h] = in ? 1 : 0;
                }
            }
        }
        return out;
    }

    /** The inverse of {@link #shuffle}: the raster code map (padding cropped) of {@code [windows][s²]} ids. */
    public int[] unshuffle(int[][] grouped) {
        int per = padded / s;
        int[] codes = new int[side * side];
        for (int w = 0; w < windows; w++) {
            for (int h = 0; h < s * s; h++) {
                int y = w / per * s + h / s;
                int x = w % per * s + h % s;
                if (y < side && x < side) {
                    codes[y * side + x] = grouped[w][h];
                }
            }
        }
        return codes;
    }

    @Override
    public int windowLength(int seqLen) {
        return 1 + layout.tokensPerImage();
    }

    /**
     * Inputs: {@code tokens[r]} = the class (or null) token, then the flattened windows 0..windows-2 (s² ids each,
     * layout ids, slot = index inside the window); targets: the flattened windows 0..windows-1 ([B][windows·s²]);
     * weights: 1 on real tokens, 0 on padding.
     */
    @Override
    public Batch batch(int[][] rows, SplittableRandom rng) {
        int b = rows.length;
        int k = heads();
        int[][] in = new int[b][1 + (windows - 1) * k];
        int[][] tgt = new int[b][windows * k];
        float[][] w = new float[b][windows * k];
        double scored = 0;
        for (int r = 0; r < b; r++) {
            double u = rng.nextDouble(); // drawn for every row, so the data order does not depend on the rate
            in[r][0] = u < condDropout ? layout.nullClassToken() : rows[r][0];
            int[][] real = new int[windows][k];
            int[][] g = shuffle(Arrays.copyOfRange(rows[r], 1, 1 + layout.tokensPerImage()), real);
            for (int i = 0; i < windows; i++) {
                for (int h = 0; h < k; h++) {
                    tgt[r][i * k + h] = g[i][h];
                    w[r][i * k + h] = real[i][h];
                    scored += real[i][h];
                    if (i < windows - 1) {
                        in[r][1 + i * k + h] = g[i][h];
                    }
                }
            }
        }
        return new Batch(in, TrainingObjective.sequentialPositions(b, windows), tgt, w, windows, scored);
    }

    /**
     * The input mixture weights [B, windows, vocab] flattened: a one-hot of the class token at position 0 and, at
     * position p >= 1, a one at {@code h·V + id_h} for each token h of window p-1 (weights 1: the merge's sum).
     */
    public float[] inputWeights(int[][] inputs) {
        int b = inputs.length;
        int k = heads();
        int v = layout.vocabSize();
        int vocab = vocabSize();
        int t = 1 + (inputs[0].length - 1) / k;
        float[] a = new float[b * t * vocab];
        for (int r = 0; r < b; r++) {
            a[(r * t) * vocab + inputs[r][0]] = 1f;
            for (int p = 1; p < t; p++) {
                for (int h = 0; h < k; h++) {
                    a[(r * t + p) * vocab + h * v + inputs[r][1 + (p - 1) * k + h]] += 1f;
                }
            }
        }
        return a;
    }

    @Override
    public NDArray logits(LlamaNet net, NDManager scope, Batch batch) {
        int b = batch.tokens().length;
        int t = windows;
        NDArray weights = scope.create(inputWeights(batch.tokens()), new Shape(b, t, vocabSize()));
        return net.forwardMixture(scope, weights, batch.positions(), bias(scope, t));
    }

    /** Mean over the scored tokens of each head's cross-entropy over the codes of its slice. */
    @Override
    public NDArray loss(LlamaNet net, NDManager scope, Batch batch) {
        int b = batch.tokens().length;
        int t = windows;
        int k = heads();
        NDArray logits = logits(net, scope, batch).reshape(b, t, k, layout.vocabSize())
                .get(":, :, :, 0:" + layout.codes());
        long[] tgt = new long[b * t * k];
        float[] w = new float[b * t * k];
        for (int r = 0; r < b; r++) {
            for (int j = 0; j < t * k; j++) {
                tgt[r * t * k + j] = batch.targets()[r][j];
                w[r * t * k + j] = batch.weights()[r][j];
            }
        }
        NDArray logp = logits.logSoftmax(-1).gather(scope.create(tgt, new Shape(b, t, k, 1)), 3)
                .reshape(b, t, k);
        return logp.mul(scope.create(w, new Shape(b, t, k))).sum().neg()
                .div(LlamaNet.constant(scope, (float) batch.normalizer()));
    }

    @Override
    public NDArray bias(NDManager scope, int t) {
        return LlamaNet.bias(scope, t, (q, key) -> key <= q);
    }
}
