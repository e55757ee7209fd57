package dev.arbor.models.images;

import dev.arbor.api.ArborException;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * A principal-component basis of flattened images: the mean image and the {@code P} leading eigenvectors of the
 * pixel covariance, in decreasing order of variance. {@link #project} gives an image's {@code P} coefficients,
 * {@link #reconstruct} the image of a coefficient vector (mean + Σ c_j·v_j, not clamped). Immutable.
 * <p>
 * Fitted by orthogonal (subspace) iteration on the covariance followed by a Rayleigh–Ritz step (the Jacobi
 * eigendecomposition {@link SymmetricEigen} of the P×P projected covariance), which orders the components by variance; the subspace need
 * not match the exact eigenvectors of the tail, only capture the variance, and {@link #fit} reports how much it does.
 */
public final class PcaBasis {
    private final float[] mean;
    private final float[][] components; // [P][pixels], orthonormal rows
    private final double[] variances;   // per component, decreasing (0 when unknown, e.g. read from a file)

    /** A basis from its parts (copied); the rows must have the mean's length. */
    public PcaBasis(float[] mean, float[][] components, double[] variances) {
        if (mean == null || mean.length == 0 || components == null || components.length == 0) {
            throw ArborException.invalid("a PCA basis needs a mean image and at least one component");
        }
        this.mean = mean.clone();
        this.components = new float[components.length][];
        for (int j = 0; j < components.length; j++) {
            if (components[j].length != mean.length) {
                throw ArborException.invalid("component " + j + " has " + components[j].length + " values, the mean "
                        + mean.length);
            }
            this.components[j] = components[j].clone();
        }
        this.variances = variances == null ? new double[components.length] : variances.clone();
    }

    /**
     * The {@code p} leading principal components of {@code images} (rows of equal length): covariance in double
     * precision over all images, {@code iterations} subspace iterations from a seeded random start, then Rayleigh–Ritz.
     */
    public static PcaBasis fit(float[][] images, int p, int iterations, long seed) {
        int n = images.length;
        int d = images[0].length;
        if (p < 1 || p > d || n < 2) {
            throw ArborException.invalid("PCA needs 1 <= components <= " + d + " and at least 2 images, got " + p
                    + " components of " + n + " images");
        }
        double[] mu = new double[d];
        for (float[] x : images) {
            for (int i = 0; i < d; i++) mu[i] += x[i];
        }
        for (int i = 0; i < d; i++) mu[i] /= n;
        // Pixel-major centred data: each covariance entry is then one sequential dot product.
        float[][] cols = new float[d][n];
        for (int k = 0; k < n; k++) {
            for (int i = 0; i < d; i++) cols[i][k] = (float) (images[k][i] - mu[i]);
        }
        double[][] cov = new double[d][d];
        IntStream.range(0, d).parallel().forEach(i -> {
            float[] a = cols[i];
            for (int j = i; j < d; j++) {
                float[] b = cols[j];
                double s = 0;
                for (int k = 0; k < n; k++) s += a[k] * b[k];
                cov[i][j] = s / (n - 1);
            }
        });
        for (int i = 0; i < d; i++) {
            for (int j = 0; j < i; j++) cov[i][j] = cov[j][i];
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        double[][] q = new double[p][d];
        for (double[] row : q) {
            for (int i = 0; i < d; i++) row[i] = rnd.nextDouble() - 0.5;
        }
        orthonormalize(q);
        for (int it = 0; it < iterations; it++) {
            q = multiply(cov, q);
            orthonormalize(q);
        }
        // Rayleigh–Ritz: diagonalise T = Q C Qᵀ and rotate Q onto T's eigenvectors, largest first.
        double[][] cq = multiply(cov, q);
        double[][] t = new double[p][p];
        for (int a = 0; a < p; a++) {
            for (int b = 0; b < p; b++) t[a][b] = dot(q[a], cq[b]);
        }
        double[][] vecs = SymmetricEigen.decompose(t); // rows, by decreasing eigenvalue
        float[][] comps = new float[p][d];
        double[] var = new double[p];
        for (int r = 0; r < p; r++) {
            double[] e = vecs[r];
            double[] te = new double[p];
            for (int a = 0; a < p; a++) te[a] = dot(t[a], e);
            var[r] = dot(e, te); // the Rayleigh quotient: the variance along component r
            double[] v = new double[d];
            for (int a = 0; a < p; a++) {
                double w = e[a];
                for (int i = 0; i < d; i++) v[i] += w * q[a][i];
            }
            double norm = Math.sqrt(dot(v, v));
            for (int i = 0; i < d; i++) comps[r][i] = (float) (v[i] / norm);
        }
        float[] m = new float[d];
        for (int i = 0; i < d; i++) m[i] = (float) mu[i];
        return new PcaBasis(m, comps, var);
    }

    /** Number of components P. */
    public int size() {
        return components.length;
    }

    /** Length of an image (pixels). */
    public int pixels() {
        return mean.length;
    }

    public float[] mean() {
        return mean.clone();
    }

    /** Component {@code j} (a copy). */
    public float[] component(int j) {
        return components[j].clone();
    }

    /** Variance along each component on the fitting data (zeros for a basis read from a file). */
    public double[] variances() {
        return variances.clone();
    }

    /** The P coefficients of {@code image}: ⟨image − mean, v_j⟩. */
    public float[] project(float[] image) {
        if (image.length != mean.length) {
            throw new IllegalArgumentException("image has " + image.length + " pixels, the basis " + mean.length);
        }
        float[] c = new float[components.length];
        for (int j = 0; j < components.length; j++) {
            float[] v = components[j];
            double s = 0;
            for (int i = 0; i < v.length; i++) s += (image[i] - mean[i]) * v[i];
            c[j] = (float) s;
        }
        return c;
    }

    /** mean + Σ coefficients[j]·v_j (not clamped). */
    public float[] reconstruct(float[] coefficients) {
        float[] x = mean.clone();
        for (int j = 0; j < components.length; j++) {
            float c = coefficients[j];
            if (c == 0) continue;
            float[] v = components[j];
            for (int i = 0; i < x.length; i++) x[i] += c * v[i];
        }
        return x;
    }

    private static double[][] multiply(double[][] sym, double[][] rows) {
        double[][] out = new double[rows.length][];
        IntStream.range(0, rows.length).parallel().forEach(a -> {
            double[] r = rows[a];
            double[] o = new double[r.length];
            for (int i = 0; i < sym.length; i++) o[i] = dot(sym[i], r);
            out[a] = o;
        });
        return out;
    }

    /** Modified Gram–Schmidt on the rows, in place. */
    private static void orthonormalize(double[][] rows) {
        for (int a = 0; a < rows.length; a++) {
            double[] r = rows[a];
            for (int b = 0; b < a; b++) {
                double proj = dot(r, rows[b]);
                double[] o = rows[b];
                for (int i = 0; i < r.length; i++) r[i] -= proj * o[i];
            }
            double norm = Math.sqrt(dot(r, r));
            for (int i = 0; i < r.length; i++) r[i] /= norm;
        }
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
