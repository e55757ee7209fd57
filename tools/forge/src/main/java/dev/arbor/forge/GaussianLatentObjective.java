package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.ContinuousHead;
import java.util.SplittableRandom;

/**
 * A causal autoregressive prior over continuous latent tokens with a per-token Gaussian head (the MAR/CSpD family
 * with the diffusion head replaced by its Gaussian form; Wang et al. 2025, "Continuous Speculative Decoding for
 * Autoregressive Image Generation", METHODS.md §3.12), objective kind {@value #KIND}.
 * <p>
 * Sequence: the class token (the null class with probability {@code condDropout}, condition dropout for
 * classifier-free guidance), then the image's latent tokens {@code x_0 .. x_{n−1}} in raster order as inputs
 * {@code Σ_j x_j·E[basis j]} over the prior's own embedding table ({@link LlamaNet#forwardMixture}); causal attention;
 * the row of position p (alignment NEXT) gives the Gaussian of {@code x_p}: logits columns {@code [0, D)} the means,
 * {@code [D, 2D)} the log-variances ({@link #head}: {@code GAUSSIAN:D:0:basis:-1:0}). The loss is the Gaussian
 * negative log-likelihood {@code ½(log v + (x−μ)²/v + log 2π)} per latent value, log v clamped to
 * [{@value #MIN_LOG_VARIANCE}, {@value #MAX_LOG_VARIANCE}] (the clamp the generators read the head with), averaged
 * over the n·D values.
 * <p>
 * A window is {@code [classToken(label), imageIndex]} ({@link LatentData}): the objective looks the latents up, so
 * the forge's {@link Trainer} (AdamW, schedule, time budget, held-out loss) runs it unchanged.
 */
public final class GaussianLatentObjective implements TrainingObjective {
    /** The recipe's objective kind. */
    public static final String KIND = "latent-gaussian-ar";
    /** Lower end of the log-variance clamp (the same as the continuous-speculative bundle's). */
    public static final float MIN_LOG_VARIANCE = -9f;
    /** Upper end of the log-variance clamp. */
    public static final float MAX_LOG_VARIANCE = 4f;

    private final ImageLayout layout;
    private final LatentData data;
    private final int tokens;
    private final int dim;
    private final double condDropout;

    /**
     * @param layout      the codec's layout (class, null-class and basis ids)
     * @param data        the latents the windows index
     * @param condDropout probability of the null class in place of the class token
     */
    public GaussianLatentObjective(ImageLayout layout, LatentData data, double condDropout) {
        if (data.dim() != layout.featureDim()) {
            throw new IllegalArgumentException("latents of " + data.dim() + " values for a layout with feature dim "
                    + layout.featureDim());
        }
        this.layout = layout;
        this.data = data;
        this.tokens = data.tokens();
        this.dim = data.dim();
        this.condDropout = condDropout;
    }

    /** The same objective on other data without condition dropout (held-out NLL of the conditional model). */
    public GaussianLatentObjective conditional(LatentData heldOut) {
        return new GaussianLatentObjective(layout, heldOut, 0);
    }

    /** The head the exported card declares: means in columns [0, D), log-variances in [D, 2D), basis ids. */
    public static ContinuousHead head(ImageLayout layout) {
        return new ContinuousHead(layout.featureDim(), ContinuousHead.Kind.GAUSSIAN, 0, layout.featureBasisToken(0),
                -1, 0);
    }

    /** Positions of a sequence: the class token and every latent token but the last. */
    public int sequenceLength() {
        return tokens;
    }

    @Override
    public int windowLength(int seqLen) {
        return 2;
    }

    /** Batch: {@code tokens[r] = [class or null, 0, ...]} (ids of the one-hot part), {@code targets[r] = [image]}. */
    @Override
    public Batch batch(int[][] windows, SplittableRandom rng) {
        int b = windows.length;
        int[][] in = new int[b][tokens];
        int[][] tgt = new int[b][1];
        float[][] w = new float[b][1];
        for (int r = 0; r < b; r++) {
            double u = rng.nextDouble(); // drawn for every row, so the data order does not depend on the rate
            in[r][0] = u < condDropout ? layout.nullClassToken() : windows[r][0];
            tgt[r][0] = windows[r][1];
            w[r][0] = 1f;
        }
        return new Batch(in, TrainingObjective.sequentialPositions(b, tokens), tgt, w, 1, (double) b * tokens * dim);
    }

    /**
     * The input mixture weights [B, T, vocab] flattened: one-hot of the class (or null) token at position 0, the
     * latent token {@code x_{p−1}} on the basis columns at position p.
     */
    public float[] inputWeights(int[][] inputIds, int[] images, int vocab) {
        int b = inputIds.length;
        float[] a = new float[b * tokens * vocab];
        int basis = layout.featureBasisToken(0);
        for (int r = 0; r < b; r++) {
            a[(r * tokens) * vocab + inputIds[r][0]] = 1f;
            float[][] x = data.latents(images[r]);
            for (int p = 1; p < tokens; p++) {
                int row = (r * tokens + p) * vocab + basis;
                for (int j = 0; j < dim; j++) {
                    a[row + j] = x[p - 1][j];
                }
            }
        }
        return a;
    }

    private static int[] images(Batch batch) {
        int[] images = new int[batch.targets().length];
        for (int r = 0; r < images.length; r++) {
            images[r] = batch.targets()[r][0];
        }
        return images;
    }

    @Override
    public NDArray logits(LlamaNet net, NDManager scope, Batch batch) {
        int b = batch.tokens().length;
        int vocab = net.config().vocabSize();
        NDArray weights = scope.create(inputWeights(batch.tokens(), images(batch), vocab),
                new Shape(b, tokens, vocab));
        return net.forwardMixture(scope, weights, batch.positions(), bias(scope, tokens));
    }

    @Override
    public NDArray loss(LlamaNet net, NDManager scope, Batch batch) {
        int b = batch.tokens().length;
        int[] images = images(batch);
        float[] x = new float[b * tokens * dim];
        for (int r = 0; r < b; r++) {
            float[][] lat = data.latents(images[r]);
            for (int p = 0; p < tokens; p++) {
                System.arraycopy(lat[p], 0, x, (r * tokens + p) * dim, dim);
            }
        }
        NDArray logits = logits(net, scope, batch);
        NDArray mean = logits.get(":, :, 0:" + dim);
        // clamped through scope-owned constants (never a Number argument on a differentiated path, see LlamaNet)
        NDArray logVar = logits.get(":, :, " + dim + ":" + 2 * dim)
                .maximum(LlamaNet.constant(scope, MIN_LOG_VARIANCE))
                .minimum(LlamaNet.constant(scope, MAX_LOG_VARIANCE));
        NDArray target = scope.create(x, new Shape(b, tokens, dim));
        NDArray nll = logVar.add(target.sub(mean).square().mul(logVar.neg().exp()))
                .add(LlamaNet.constant(scope, (float) Math.log(2 * Math.PI)))
                .mul(LlamaNet.constant(scope, 0.5f));
        return nll.sum().div(LlamaNet.constant(scope, (float) batch.normalizer()));
    }

    @Override
    public NDArray bias(NDManager scope, int t) {
        return LlamaNet.bias(scope, t, (q, k) -> k <= q);
    }
}
