package dev.arbor.models.images;

import dev.arbor.api.ArborException;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * A principal-component basis of flattened images: the mean image and the {@code P} leading eigenvectors of the
 * pixel covariance, in decreasing order of variance. {@link #project} gives an image's {@code P} coefficients,
 * {@link #reconstruct} the image of a coefficient vector (mean + Σ c_j·v_j, not clamped). Immutable.
 * <p>
 * Fitted by orthogonal (subspace) iteration on the covariance followed by a Rayleigh–Ritz step (a Jacobi
 * eigendecomposition of the P×P projected covariance), which orders the components by variance; the subspace need
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
        double[][] vecs = new double[p][p];
        double[] vals = jacobiEigen(t, vecs);
        Integer[] order = new Integer[p];
        for (int j = 0; j < p; j++) order[j] = j;
        Arrays.sort(order, (x, y) -> Double.compare(vals[y], vals[x]));
        float[][] comps = new float[p][d];
        double[] var = new double[p];
        for (int r = 0; r < p; r++) {
            int j = order[r];
            var[r] = vals[j];
            double[] v = new double[d];
            for (int a = 0; a < p; a++) {
                double w = vecs[a][j];
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

    /** Cyclic Jacobi eigendecomposition of symmetric {@code a} (destroyed); eigenvectors as columns of {@code v}. */
    static double[] jacobiEigen(double[][] a, double[][] v) {
        int n = a.length;
        for (int i = 0; i < n; i++) {
            Arrays.fill(v[i], 0);
            v[i][i] = 1;
        }
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0;
            for (int i = 0; i < n; i++) {
                for (int j = i + 1; j < n; j++) off += a[i][j] * a[i][j];
            }
            if (off < 1e-22) break;
            for (int p = 0; p < n; p++) {
                for (int q = p + 1; q < n; q++) {
                    if (Math.abs(a[p][q]) < 1e-300) continue;
                    double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.sqrt(t * t + 1);
                    double s = t * c;
                    for (int k = 0; k < n; k++) {
                        double akp = a[k][p];
                        double akq = a[k][q];
                        a[k][p] = c * akp - s * akq;
                        a[k][q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++) {
                        double apk = a[p][k];
                        double aqk = a[q][k];
                        a[p][k] = c * apk - s * aqk;
                        a[q][k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++) {
                        double vkp = v[k][p];
                        double vkq = v[k][q];
                        v[k][p] = c * vkp - s * vkq;
                        v[k][q] = s * vkp + c * vkq;
                    }
                }
            }
        }
        double[] vals = new double[n];
        for (int i = 0; i < n; i++) vals[i] = a[i][i];
        return vals;
    }
}
