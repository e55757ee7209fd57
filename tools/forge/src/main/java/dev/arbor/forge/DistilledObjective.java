package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.generation.distilled.StudentInput;
import java.util.SplittableRandom;

/**
 * The Distilled Decoding student's objective (Liu et al. 2024, METHODS.md §3.17; DD's training code is unreleased,
 * this is the documented form): cross-entropy of the teacher's tokens under the student's logits, on the input
 * {@link StudentInput} defines, with full attention. Each training image is a first step ({@code split = 0}: every
 * position is noise, all {@code n} tokens scored) or, with probability {@code secondStepFraction}, a second step at
 * a split drawn uniformly from {@code 1..n−1} (the teacher's tokens before the split kept as codes, as DD's
 * {@code perturb_data} does with ground-truth tokens; only the tokens at and after the split scored). A fixed split
 * ({@link #fixed}) gives the held-out losses of one kind of step.
 * <p>
 * Windows come from {@link DistilledData} ({@code [class, tokens, index]}); a batch's id rows are that window plus
 * the split, and {@link #logits} rebuilds the mixture inputs from them and the data's noise.
 */
final class DistilledObjective implements TrainingObjective {
    private final ImageLayout layout;
    private final DistilledData data;
    private final double secondStepFraction;
    private final int fixedSplit;

    private DistilledObjective(ImageLayout layout, DistilledData data, double secondStepFraction, int fixedSplit) {
        this.layout = layout;
        this.data = data;
        this.secondStepFraction = secondStepFraction;
        this.fixedSplit = fixedSplit;
    }

    /** Random steps: second steps with probability {@code secondStepFraction} at uniform splits. */
    static DistilledObjective training(ImageLayout layout, DistilledData data, double secondStepFraction) {
        if (!(secondStepFraction >= 0 && secondStepFraction <= 1)) {
            throw new IllegalArgumentException("second-step fraction must be in [0, 1], got " + secondStepFraction);
        }
        return new DistilledObjective(layout, data, secondStepFraction, -1);
    }

    /** Every image at {@code split} (0 = the first step). */
    static DistilledObjective fixed(ImageLayout layout, DistilledData data, int split) {
        if (split < 0 || split >= layout.tokensPerImage()) {
            throw new IllegalArgumentException("split must be in [0, " + layout.tokensPerImage() + "), got " + split);
        }
        return new DistilledObjective(layout, data, 0, split);
    }

    @Override
    public int windowLength(int seqLen) {
        return layout.tokensPerImage() + 2;
    }

    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int n = layout.tokensPerImage();
        int[][] ids = new int[b][];
        int[][] tgt = new int[b][n + 1];
        float[][] w = new float[b][n + 1];
        double scored = 0;
        for (int r = 0; r < b; r++) {
            int split;
            if (fixedSplit >= 0) {
                split = fixedSplit;
            } else {
                double u = rng.nextDouble();
                int s = 1 + rng.nextInt(n - 1); // both drawn for every row: the data order does not depend on the rate
                split = u < secondStepFraction ? s : 0;
            }
            ids[r] = java.util.Arrays.copyOf(windows[r], n + 3);
            ids[r][n + 2] = split;
            for (int i = split; i < n; i++) {
                tgt[r][1 + i] = windows[r][1 + i];
                w[r][1 + i] = 1f;
                scored++;
            }
        }
        return new Batch(ids, TrainingObjective.sequentialPositions(b, n + 1), tgt, w, n + 1, scored);
    }

    /** The mixture weights [B, n+1, vocab] (flat) of a batch's id rows. */
    float[] inputWeights(int[][] ids, int vocab) {
        int b = ids.length;
        int n = layout.tokensPerImage();
        int t = n + 1;
        float[] a = new float[b * t * vocab];
        float[] eps = new float[n * layout.featureDim()];
        for (int r = 0; r < b; r++) {
            int index = ids[r][n + 1];
            int split = ids[r][n + 2];
            for (int p = 0; p < n; p++) {
                for (int j = 0; j < layout.featureDim(); j++) {
                    eps[p * layout.featureDim() + j] = data.noise(index, p, j);
                }
            }
            int[] codes = java.util.Arrays.copyOfRange(ids[r], 1, 1 + n);
            StudentInput.Mixture[] m = StudentInput.of(layout, layout.classOf(ids[r][0]), codes, split, eps);
            for (int p = 0; p < t; p++) {
                int row = (r * t + p) * vocab;
                for (int k = 0; k < m[p].ids().length; k++) {
                    a[row + m[p].ids()[k]] += m[p].weights()[k];
                }
            }
        }
        return a;
    }

    @Override
    public NDArray logits(LlamaNet net, NDManager scope, Batch batch) {
        int b = batch.tokens().length;
        int t = layout.tokensPerImage() + 1;
        int vocab = net.config().vocabSize();
        NDArray weights = scope.create(inputWeights(batch.tokens(), vocab), new Shape(b, t, vocab));
        return net.forwardMixture(scope, weights, batch.positions(), null);
    }

    @Override
    public NDArray bias(NDManager scope, int inputLength) {
        return null; // full attention: the student sees every position
    }
}
