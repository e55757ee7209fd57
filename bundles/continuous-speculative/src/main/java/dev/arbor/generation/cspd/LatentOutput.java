package dev.arbor.generation.cspd;

import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.LatentImageCodec;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.imagegen.ImageCanvas;
import java.util.random.RandomGenerator;

/**
 * The commit step of the continuous-latent generators: a decided latent token leaves as its
 * {@link LatentImageCodec#toIds wire ids} (full precision is kept until here and quantised once), each committed
 * through {@link TokenOutput} (history, result, sink, stop) with a {@link Selection} whose log-probability is the
 * mass of the id's quantisation bin under the token's Gaussian (the probability of that wire id), and the partial
 * image is streamed as a canvas after every row of the latent grid ({@link ImageCanvas}). Not thread-safe.
 */
final class LatentOutput {
    private final TokenOutput output;
    private final LatentImageCodec codec;
    private final ImageCanvas canvas;
    private final int vocab;
    private final float[][] latents;
    private int decided;

    LatentOutput(TokenOutput output, TokenSink sink, LatentImageCodec codec, int vocab) {
        this.output = output;
        this.codec = codec;
        this.vocab = vocab;
        this.latents = new float[codec.latentTokens()][];
        this.canvas = new ImageCanvas(sink, codec.latentTokens() * codec.latentDim(),
                codec.layout().nullClassToken());
    }

    /**
     * Standard-normal noise {@code ε_i} for every latent token, drawn first from the request's RNG, token after token
     * and value after value: the same table for the target and the draft (CSpD's denoising trajectory alignment),
     * so one seed gives one image whatever the generator.
     */
    static double[][] noise(RandomGenerator rng, int tokens, int dim) {
        double[][] eps = new double[tokens][dim];
        for (double[] e : eps) {
            for (int j = 0; j < dim; j++) {
                e[j] = rng.nextGaussian();
            }
        }
        return eps;
    }

    /** Latent tokens decided so far. */
    int decided() {
        return decided;
    }

    /** The decided latent tokens (full precision). */
    float[][] latents() {
        return java.util.Arrays.copyOf(latents, decided);
    }

    /**
     * Commits latent token {@code x}, drawn from (or verified against) {@code law}: its wire ids, then a canvas when
     * it completes a grid row. False when the row is finished (the sink refused an id).
     */
    boolean commit(float[] x, DiagonalGaussian law) {
        latents[decided++] = x.clone();
        int[] ids = codec.toIds(new float[][] {x});
        boolean open = true;
        for (int j = 0; j < ids.length && open; j++) {
            int id = ids[j];
            float[] oneHot = new float[vocab];
            oneHot[id] = 1f;
            double logP = binLogProbability(id, law.mean(j), Math.sqrt(law.variance(j)));
            open = output.emit(id, new Selection(id, oneHot, logP, Math.exp(logP)));
        }
        for (int id : ids) {
            canvas.put(id);
        }
        if (decided % codec.gridSide() == 0) {
            canvas.stream();
        }
        return open;
    }

    /** Canvases streamed. */
    int canvases() {
        return canvas.steps();
    }

    /**
     * log P(wire id) for a value ~ N(mean, std²): the mass of the id's bin of width {@code 2R/(L−1)} around its value
     * {@code −R + id·2R/(L−1)} (L = the layout's codes, R = the value range), the end bins open to ±∞ (the wire form
     * clamps).
     */
    double binLogProbability(int id, double mean, double std) {
        int levels = codec.layout().codes();
        double range = codec.valueRange();
        double step = 2 * range / (levels - 1);
        double centre = -range + id * step;
        double lo = id == 0 ? Double.NEGATIVE_INFINITY : (centre - step / 2 - mean) / std;
        double hi = id == levels - 1 ? Double.POSITIVE_INFINITY : (centre + step / 2 - mean) / std;
        double mass = hi <= 0 ? cdf(hi) - cdf(lo) : upper(lo) - upper(hi);
        return Math.log(Math.max(mass, Double.MIN_NORMAL));
    }

    /** Φ(z). */
    static double cdf(double z) {
        return z == Double.NEGATIVE_INFINITY ? 0 : z == Double.POSITIVE_INFINITY ? 1 : 0.5 * erfc(-z / Math.sqrt(2));
    }

    /** 1 − Φ(z), accurate in the upper tail. */
    static double upper(double z) {
        return z == Double.NEGATIVE_INFINITY ? 1 : z == Double.POSITIVE_INFINITY ? 0 : 0.5 * erfc(z / Math.sqrt(2));
    }

    /** erfc with fractional error below 1.2e-7 everywhere (Chebyshev fit; Press et al., Numerical Recipes §6.2). */
    static double erfc(double x) {
        double z = Math.abs(x);
        double t = 1 / (1 + 0.5 * z);
        double r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
