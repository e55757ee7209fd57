package dev.arbor.generation.cspd;

import dev.arbor.api.ArborException;
import java.util.Arrays;

/**
 * A Gaussian with diagonal covariance over a continuous token of D values: what a GAUSSIAN
 * {@code ContinuousHead} emits per row (D means, then D log-variances). Immutable.
 *
 * @param mean     the D means
 * @param variance the D variances (positive)
 */
public record DiagonalGaussian(double[] mean, double[] variance) {

    /**
     * The log-variance range a Gaussian head is read with, the same clamp the forge's {@code GaussianLatentObjective}
     * trains with: a head never emits a zero or an exploding variance, and a sample stays finite.
     */
    public static final double MIN_LOG_VARIANCE = -9.0;
    /** Upper end of the log-variance clamp (see {@link #MIN_LOG_VARIANCE}). */
    public static final double MAX_LOG_VARIANCE = 4.0;

    private static final double LOG_2PI = Math.log(2 * Math.PI);

    public DiagonalGaussian {
        if (mean.length != variance.length || mean.length == 0) {
            throw new IllegalArgumentException("a Gaussian needs as many variances as means (at least one), got "
                    + mean.length + " and " + variance.length);
        }
        for (int i = 0; i < mean.length; i++) {
            if (!Double.isFinite(mean[i]) || !(variance[i] > 0) || !Double.isFinite(variance[i])) {
                throw new IllegalArgumentException("dimension " + i + " has mean " + mean[i] + " and variance "
                        + variance[i] + "; a Gaussian needs a finite mean and a finite positive variance");
            }
        }
        mean = mean.clone();
        variance = variance.clone();
    }

    /**
     * The Gaussian of a head's columns: {@code cols[0..dim)} the means, {@code cols[dim..2·dim)} the log-variances
     * (clamped to [{@value #MIN_LOG_VARIANCE}, {@value #MAX_LOG_VARIANCE}]). A non-finite column is a backend bug and
     * is refused as PLUGIN_FAILURE naming {@code model}.
     */
    public static DiagonalGaussian fromHead(float[] cols, int dim, String model) {
        if (cols.length < 2 * dim) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, model + " returned " + cols.length
                    + " Gaussian-head columns, expected " + 2 * dim);
        }
        double[] m = new double[dim];
        double[] v = new double[dim];
        for (int j = 0; j < dim; j++) {
            float mu = cols[j];
            float lv = cols[dim + j];
            if (!Float.isFinite(mu) || Float.isNaN(lv)) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, model + " returned a non-finite "
                        + "Gaussian head (mean " + mu + ", log-variance " + lv + " in dimension " + j + ")");
            }
            m[j] = mu;
            v[j] = Math.exp(Math.max(MIN_LOG_VARIANCE, Math.min(MAX_LOG_VARIANCE, lv)));
        }
        return new DiagonalGaussian(m, v);
    }

    @Override
    public double[] mean() {
        return mean.clone();
    }

    @Override
    public double[] variance() {
        return variance.clone();
    }

    /** Width D. */
    public int dim() {
        return mean.length;
    }

    /** Mean of dimension {@code j}. */
    public double mean(int j) {
        return mean[j];
    }

    /** Variance of dimension {@code j}. */
    public double variance(int j) {
        return variance[j];
    }

    /** This Gaussian with other means and the same variances (classifier-free guidance moves only the mean). */
    public DiagonalGaussian withMean(double[] newMean) {
        return new DiagonalGaussian(newMean, variance);
    }

    /** This Gaussian with every variance multiplied by {@code factor} (a sampling temperature τ gives τ²). */
    public DiagonalGaussian withVarianceScale(double factor) {
        double[] v = variance.clone();
        for (int j = 0; j < v.length; j++) {
            v[j] *= factor;
        }
        return new DiagonalGaussian(mean, v);
    }

    /** The reparameterised sample {@code μ + σ·ε} for standard-normal noise {@code eps} (D values). */
    public float[] sample(double[] eps) {
        if (eps.length != mean.length) {
            throw new IllegalArgumentException("noise of " + eps.length + " values for a Gaussian of " + mean.length);
        }
        float[] x = new float[mean.length];
        for (int j = 0; j < x.length; j++) {
            x[j] = (float) (mean[j] + Math.sqrt(variance[j]) * eps[j]);
        }
        return x;
    }

    /** The log-density {@code log N(x; μ, diag(v))} (true standard deviations). */
    public double logDensity(float[] x) {
        double s = 0;
        for (int j = 0; j < mean.length; j++) {
            double d = x[j] - mean[j];
            s += -0.5 * (LOG_2PI + Math.log(variance[j]) + d * d / variance[j]);
        }
        return s;
    }

    /**
     * The log-density {@code log N(x; μ, diag(v²))} of the reference CSpD code, which passes the variances into the
     * slots named {@code std} (METHODS.md §3.12 quirk (1)): the widths are the variances, not their square roots.
     */
    public double logDensityVarianceAsStd(float[] x) {
        double s = 0;
        for (int j = 0; j < mean.length; j++) {
            double d = (x[j] - mean[j]) / variance[j];
            s += -0.5 * (LOG_2PI + d * d) - Math.log(variance[j]);
        }
        return s;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DiagonalGaussian g && Arrays.equals(g.mean, mean) && Arrays.equals(g.variance, variance);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(mean) + Arrays.hashCode(variance);
    }

    @Override
    public String toString() {
        return "DiagonalGaussian[mean=" + Arrays.toString(mean) + ", variance=" + Arrays.toString(variance) + "]";
    }
}
