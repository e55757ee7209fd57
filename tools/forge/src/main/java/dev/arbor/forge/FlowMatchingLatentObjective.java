package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.LatentImageCodec;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.generation.nextx.Cells;
import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.WeakHashMap;

/**
 * xAR's next-cell flow matching (Ren et al. 2025, "Beyond Next-Token: Next-X Prediction for Autoregressive Visual
 * Generation", {@code github.com/OliverRensu/xAR @121e9c9 : models/xar.py}; METHODS.md §3.15), teacher-forced over
 * continuous latents: an image is the class token then the codec's {@code n} latent tokens in cell order
 * ({@link Cells#clusterify}), attention block-causal by cell (segment 0 = the class token, segment k+1 = cell k; a
 * query sees its own and every earlier cell, all tokens of its own cell included).
 * <p>
 * Each cell k gets its own time {@code t_k ~ U[0,1)} and its tokens enter as the flow's interpolant
 * {@code x_t = t·x_1 + (1−t)·ε} ({@code ε ~ N(0, I)}, rectified-flow convention: t = 1 is data), written in the
 * prior's own embedding table as {@link ContinuousHead.Embedder} does at inference:
 * {@code Σ_j x_t[j]·E[basis j] + E_t} (E_t interpolating the {@value #TIME_STEPS} time ids appended after the
 * layout). The head's columns of a token's row regress the velocity {@code x_1 − ε} (MSE per value). So that the
 * model sees noisy context (xAR's noisy-context learning, each cell at its own noise level) and also the clean
 * context it gets at inference, with probability {@value #CLEAN_CONTEXT} a row picks a current cell c and puts the
 * cells before it at t = 1 (clean, not scored); the cells from c on are scored. xAR draws its noise levels from its
 * own schedule; the uniform t and the clean-context rate here are this project's form. Condition dropout replaces the
 * class token by the null class (classifier-free guidance).
 * <p>
 * A window is one image, {@code [classToken(label), wire ids]} ({@link ImageData} over
 * {@link LatentImageCodec#encodeImage}); the latents are read back from the 8-bit wire ids (44.6 dB, see the codec's
 * card). The continuous part of a batch (input mixture, velocity targets, scored tokens) is kept by the objective,
 * keyed by the batch's token array, until the batch is unreachable.
 */
public final class FlowMatchingLatentObjective implements TrainingObjective {
    /** The recipe objective kind. */
    public static final String KIND = "latent-flow-cells";
    /** Time ids appended after the layout. */
    public static final int TIME_STEPS = 33;
    /** Side of a cell of the latent grid (7 x 7 in cells of 4: the quadrants, K = 4). */
    public static final int CELL_SIDE = 4;
    /** Probability that a row trains with clean context before a random current cell. */
    public static final double CLEAN_CONTEXT = 0.5;

    private final ImageLayout layout;
    private final LatentImageCodec codec;
    private final Cells cells;
    private final ContinuousHead head;
    private final double condDropout;
    private final int[] segment;
    private final Map<int[][], Flow> flows = Collections.synchronizedMap(new WeakHashMap<>());

    private record Flow(float[] mixture, float[] target, float[] scored, double values, float[] xt, double[] times) {
    }

    public FlowMatchingLatentObjective(LatentImageCodec codec, double condDropout) {
        this.codec = codec;
        this.layout = codec.layout();
        this.cells = new Cells(codec.gridSide(), CELL_SIDE);
        this.head = head(layout, codec.latentDim());
        this.condDropout = condDropout;
        this.segment = new int[1 + cells.tokens()];
        for (int i = 0; i < cells.tokens(); i++) {
            segment[1 + i] = cells.cellOf(i) + 1;
        }
    }

    /** The velocity head of a prior over {@code layout}: columns 0..D-1, the layout's basis ids, time ids after it. */
    public static ContinuousHead head(ImageLayout layout, int dim) {
        return new ContinuousHead(dim, ContinuousHead.Kind.VELOCITY, 0, layout.featureBasisToken(0),
                layout.vocabSize(), TIME_STEPS);
    }

    /** The same objective without condition dropout (held-out loss of the conditional model). */
    public FlowMatchingLatentObjective conditional() {
        return new FlowMatchingLatentObjective(codec, 0);
    }

    public ContinuousHead head() {
        return head;
    }

    public Cells cells() {
        return cells;
    }

    /** The prior's vocabulary: the layout's ids, then the time ids. */
    public int vocabSize() {
        return head.maxId();
    }

    /** Segment of each position (class token 0, cell k → k+1) for the backends' Segments mask. */
    public int[] segments() {
        return segment.clone();
    }

    @Override
    public int windowLength(int seqLen) {
        return 1 + layout.tokensPerImage();
    }

    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int n = cells.tokens();
        int d = codec.latentDim();
        int t = 1 + n;
        int vocab = vocabSize();
        int[][] in = new int[b][t];
        float[] mixture = new float[b * t * vocab];
        float[] target = new float[b * n * d];
        float[] scored = new float[b * n];
        float[] xt = new float[b * n * d];
        double[] times = new double[b * n];
        int scoredTokens = 0;
        for (int r = 0; r < b; r++) {
            // every draw happens for every row, so the data order does not depend on the rates
            double u = rng.nextDouble();
            boolean clean = rng.nextDouble() < CLEAN_CONTEXT;
            int current = rng.nextInt(cells.count());
            if (!clean) {
                current = 0;
            }
            double[] time = new double[cells.count()];
            for (int k = 0; k < time.length; k++) {
                double draw = rng.nextDouble();
                time[k] = k < current ? 1.0 : draw;
            }
            int cls = u < condDropout ? layout.nullClassToken() : windows[r][0];
            in[r][0] = cls;
            mixture[(r * t) * vocab + cls] = 1f;
            float[][] x1 = codec.fromIds(Arrays.copyOfRange(windows[r], 1, 1 + n * d));
            for (int i = 0; i < n; i++) {
                int k = cells.cellOf(i);
                float[] x = x1[cells.rasterIndex(i)];
                double tk = time[k];
                int row = (r * t + 1 + i) * vocab;
                for (int j = 0; j < d; j++) {
                    double eps = rng.nextGaussian();
                    float v = (float) (tk * x[j] + (1 - tk) * eps);
                    mixture[row + head.basisOffset() + j] = v;
                    xt[(r * n + i) * d + j] = v;
                    target[(r * n + i) * d + j] = (float) (x[j] - eps);
                }
                addTime(mixture, row, tk);
                times[r * n + i] = tk;
                if (k >= current) {
                    scored[r * n + i] = 1f;
                    scoredTokens++;
                }
            }
        }
        Batch batch = new Batch(in, TrainingObjective.sequentialPositions(b, t), in, new float[b][t], t,
                (double) scoredTokens * d);
        flows.put(in, new Flow(mixture, target, scored, (double) scoredTokens * d, xt, times));
        return batch;
    }

    /** Adds the time embedding weights of {@code time} at mixture row {@code row}, as the Embedder interpolates. */
    private void addTime(float[] mixture, int row, double time) {
        double pos = Math.max(0, Math.min(1, time)) * (TIME_STEPS - 1);
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, TIME_STEPS - 1);
        float w = (float) (pos - lo);
        mixture[row + head.timeOffset() + lo] += 1 - w;
        mixture[row + head.timeOffset() + hi] += w;
    }

    /** The input mixture weights [B, T, vocab] (flat) of a batch this objective made. */
    public float[] inputWeights(Batch batch) {
        return flow(batch).mixture().clone();
    }

    /** The noisy latent {@code x_t} of cell-order token {@code i} of row {@code r} of a batch this objective made. */
    public float[] noisyLatent(Batch batch, int r, int i) {
        int d = codec.latentDim();
        int at = (r * cells.tokens() + i) * d;
        return Arrays.copyOfRange(flow(batch).xt(), at, at + d);
    }

    /** The velocity target {@code x_1 − ε} of cell-order token {@code i} of row {@code r} of a batch this objective made. */
    public float[] velocityTarget(Batch batch, int r, int i) {
        int d = codec.latentDim();
        int at = (r * cells.tokens() + i) * d;
        return Arrays.copyOfRange(flow(batch).target(), at, at + d);
    }

    /** The time of cell-order token {@code i} of row {@code r} of a batch this objective made. */
    public double time(Batch batch, int r, int i) {
        return flow(batch).times()[r * cells.tokens() + i];
    }

    private Flow flow(Batch batch) {
        Flow f = flows.get(batch.tokens());
        if (f == null) {
            throw new IllegalArgumentException("this batch was not made by this objective's batch()");
        }
        return f;
    }

    @Override
    public NDArray logits(LlamaNet net, NDManager scope, Batch batch) {
        int b = batch.tokens().length;
        int t = batch.tokens()[0].length;
        NDArray weights = scope.create(flow(batch).mixture(), new Shape(b, t, vocabSize()));
        return net.forwardMixture(scope, weights, batch.positions(), bias(scope, t));
    }

    /** Mean squared error of the head's velocity against {@code x_1 − ε} over the scored tokens' values. */
    @Override
    public NDArray loss(LlamaNet net, NDManager scope, Batch batch) {
        Flow f = flow(batch);
        int b = batch.tokens().length;
        int n = cells.tokens();
        int d = codec.latentDim();
        NDArray logits = logits(net, scope, batch);
        NDArray v = logits.get(":, 1:, " + head.outputOffset() + ":" + (head.outputOffset() + d));
        NDArray diff = v.sub(scope.create(f.target(), new Shape(b, n, d)));
        NDArray perToken = diff.mul(diff).sum(new int[] {2});
        return perToken.mul(scope.create(f.scored(), new Shape(b, n))).sum()
                .div(LlamaNet.constant(scope, (float) Math.max(1, f.values())));
    }

    @Override
    public NDArray bias(NDManager scope, int t) {
        return LlamaNet.bias(scope, t, (q, k) -> segment[k] <= segment[q]);
    }
}
