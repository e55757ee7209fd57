package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.models.images.MultiScaleVq;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * VAR's next-scale prediction (Tian et al. 2024, {@code FoundationVision/VAR models/var.py}), teacher-forced: the
 * image's tokens of all scales are predicted at once, position p predicting image token p (alignment SAME), with
 * attention block-causal by scale (a query sees the keys of its own and every coarser scale). Position 0's input is
 * the class token (the null class with probability {@code condDropout}, for classifier-free guidance); a position of
 * scale k >= 1 takes VAR's {@code word_embed(f) + lvl_embed(k)} written in the prior's own embedding table,
 * {@code E[level(k)] + Σ_j f_j·E[basis(j)]}, where f is that cell's entry of the tokenizer's next-scale input built
 * from the ground-truth tokens of the scales below k ({@link MultiScaleVq#nextScaleInput}).
 * <p>
 * The batch's {@code tokens} are the id part of that input (the class or null token at 0, the scale's level id
 * elsewhere) and its targets the image tokens; {@link #inputWeights} adds the feature weights from the targets, and
 * the network runs on the mixture {@code weights · E} ({@link LlamaNet#forwardMixture}).
 * A window is one image: {@code [classToken(label), token_0 .. token_{n-1}]} (see {@link ImageData}).
 */
public final class NextScaleObjective implements TrainingObjective {
    private final ImageLayout layout;
    private final MultiScaleVq tokenizer;
    private final double condDropout;
    private final int[] segment;

    public NextScaleObjective(ImageLayout layout, MultiScaleVq tokenizer, double condDropout) {
        if (!Arrays.equals(layout.scales(), tokenizer.scales()) || layout.codes() != tokenizer.codebookSize()) {
            throw new IllegalArgumentException("layout " + layout + " does not match the tokenizer (scales "
                    + Arrays.toString(tokenizer.scales()) + ", " + tokenizer.codebookSize() + " codes)");
        }
        this.layout = layout;
        this.tokenizer = tokenizer;
        this.condDropout = condDropout;
        this.segment = tokenizer.scaleOfPosition();
    }

    /** The same objective without condition dropout (held-out loss of the conditional model). */
    public NextScaleObjective conditional() {
        return new NextScaleObjective(layout, tokenizer, 0);
    }

    @Override
    public int windowLength(int seqLen) {
        return 1 + layout.tokensPerImage();
    }

    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int t = layout.tokensPerImage();
        int[][] in = new int[b][t];
        int[][] tgt = new int[b][];
        float[][] w = new float[b][t];
        for (int r = 0; r < b; r++) {
            double u = rng.nextDouble(); // drawn for every row, so the data order does not depend on the rate
            in[r][0] = u < condDropout ? layout.nullClassToken() : windows[r][0];
            for (int p = 1; p < t; p++) {
                in[r][p] = layout.levelToken(segment[p]);
            }
            tgt[r] = Arrays.copyOfRange(windows[r], 1, t + 1);
            Arrays.fill(w[r], 1f);
        }
        return new Batch(in, TrainingObjective.sequentialPositions(b, t), tgt, w, t, (double) b * t);
    }

    /**
     * The input mixture weights of a batch, [B, T, vocab] flattened: one-hot of each input id, plus at every position
     * of scale k >= 1 the cell's next-scale feature f on the feature-basis columns (f from the target tokens of
     * scales < k). {@code inputIds} may cover only the first scales (T a scale boundary, for sampling).
     */
    public float[] inputWeights(int[][] inputIds, int[][] imageTokens, int vocab) {
        int b = inputIds.length;
        int t = inputIds[0].length;
        int dim = layout.featureDim();
        float[] a = new float[b * t * vocab];
        for (int r = 0; r < b; r++) {
            for (int p = 0; p < t; p++) {
                a[(r * t + p) * vocab + inputIds[r][p]] = 1f;
            }
            // only the scales inside the first t positions: a sampler runs on the scales generated so far
            for (int k = 1; k < layout.scaleCount() && layout.scaleStart(k) < t; k++) {
                float[] f = tokenizer.nextScaleInput(imageTokens[r], k);
                int start = layout.scaleStart(k);
                int cells = layout.side(k) * layout.side(k);
                for (int cell = 0; cell < cells; cell++) {
                    int row = (r * t + start + cell) * vocab;
                    for (int j = 0; j < dim; j++) {
                        a[row + layout.featureBasisToken(j)] += f[cell * dim + j];
                    }
                }
            }
        }
        return a;
    }

    /**
     * The input embeddings [B][T][dim] the exported model sees: the mixture {@code weights} ([B, T, vocab] flat, as
     * {@link #inputWeights}) times the embedding {@code table} ([vocab, dim] flat, the checkpoint's).
     */
    public static float[][][] embeddings(float[] weights, int b, int t, float[] table, int dim) {
        int vocab = table.length / dim;
        float[][][] x = new float[b][t][dim];
        for (int r = 0; r < b; r++) {
            for (int p = 0; p < t; p++) {
                int row = (r * t + p) * vocab;
                for (int v = 0; v < vocab; v++) {
                    float w = weights[row + v];
                    if (w != 0f) {
                        for (int d = 0; d < dim; d++) {
                            x[r][p][d] += w * table[v * dim + d];
                        }
                    }
                }
            }
        }
        return x;
    }

    @Override
    public NDArray logits(LlamaNet net, NDManager scope, Batch batch) {
        int b = batch.tokens().length;
        int t = batch.tokens()[0].length;
        int vocab = net.config().vocabSize();
        NDArray weights = scope.create(inputWeights(batch.tokens(), batch.targets(), vocab), new Shape(b, t, vocab));
        return net.forwardMixture(scope, weights, batch.positions(), bias(scope, t));
    }

    @Override
    public NDArray bias(NDManager scope, int t) {
        return LlamaNet.bias(scope, t, (q, k) -> segment[k] <= segment[q]);
    }

    /** Segment ids (scale index of each position, the class token in scale 0) for the backends' Segments mask. */
    public int[] segments() {
        return segment.clone();
    }
}
