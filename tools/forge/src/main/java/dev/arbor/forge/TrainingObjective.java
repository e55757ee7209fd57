package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.SplittableRandom;

/** A training objective: turns token windows into a model input and a weighted per-token cross-entropy. */
public interface TrainingObjective {

    /**
     * One batch: model input {@code tokens} and {@code positions} [B][T]; the logits of the first {@code scored}
     * rows are scored against {@code targets} [B][scored] with {@code weights} [B][scored]; the loss is the weighted
     * negative log-likelihood summed and divided by {@code normalizer}.
     */
    record Batch(int[][] tokens, int[][] positions, int[][] targets, float[][] weights, int scored,
                 double normalizer) {
    }

    /** How many stream tokens one window needs for sequence length {@code seqLen}. */
    int windowLength(int seqLen);

    /** The batch for {@code windows} (each of {@link #windowLength} tokens), drawing noise from {@code rng}. */
    Batch batch(int[][] windows, SplittableRandom rng);

    /** The additive attention bias for the batch's input length, or null for full attention. */
    NDArray bias(NDManager scope, int inputLength);

    /** The logits [B, T, vocab] of the batch's input under {@code net}: by default its tokens through the embedding. */
    default NDArray logits(LlamaNet net, NDManager scope, Batch batch) {
        return net.forward(scope, batch.tokens(), batch.positions(), bias(scope, batch.tokens()[0].length));
    }

    /** The loss of {@code batch} under {@code net}: a scalar attached to {@code scope}. */
    default NDArray loss(LlamaNet net, NDManager scope, Batch batch) {
        NDArray logits = logits(net, scope, batch);
        int b = batch.tokens().length;
        int s = batch.scored();
        if (s < batch.tokens()[0].length) {
            logits = logits.get(":, 0:" + s + ", :");
        }
        long[] tgt = new long[b * s];
        float[] w = new float[b * s];
        for (int r = 0; r < b; r++) {
            for (int j = 0; j < s; j++) {
                tgt[r * s + j] = batch.targets()[r][j];
                w[r * s + j] = batch.weights()[r][j];
            }
        }
        NDArray logp = logits.logSoftmax(-1).gather(scope.create(tgt, new Shape(b, s, 1)), 2).reshape(b, s);
        // the normalizer as a scope-owned tensor, not div(float): autograd keeps it for the backward pass
        return logp.mul(scope.create(w, new Shape(b, s))).sum().neg()
                .div(LlamaNet.constant(scope, (float) batch.normalizer()));
    }

    /** Positions 0..T-1 for every row. */
    static int[][] sequentialPositions(int b, int t) {
        int[][] p = new int[b][t];
        for (int[] row : p) {
            for (int j = 0; j < t; j++) {
                row[j] = j;
            }
        }
        return p;
    }

    /** The objective a recipe names. */
    static TrainingObjective of(Recipe.Objective o, int maskId) {
        return switch (o.kind()) {
            case "ar" -> new AutoregressiveObjective();
            case "mdlm" -> new MaskedDiffusionObjective(maskId, o.minMaskRate());
            case "bd" -> new BlockDiffusionObjective(maskId, o.minMaskRate(), o.blockSize());
            case TiDarObjective.KIND -> new TiDarObjective(maskId, o.blockSize());
            default -> throw new IllegalArgumentException("unknown objective " + o.kind());
        };
    }
}
