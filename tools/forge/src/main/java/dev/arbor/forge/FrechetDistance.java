package dev.arbor.forge;

import dev.arbor.api.ArborException;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * The Fréchet distance between two Gaussians fitted to feature sets (Heusel et al. 2017, the FID on Inception
 * features; here on {@link FashionJudge} features): {@code ||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^{1/2})}.
 * The matrix square root is taken stably: {@code Tr((S1 S2)^{1/2}) = Tr((√S1 S2 √S1)^{1/2})}, and
 * {@code √S1 S2 √S1} is symmetric positive semi-definite, so both roots come from symmetric eigen-decompositions
 * (eigenvalues that rounding makes slightly negative are taken as 0). Covariances are unbiased (n - 1), as in the
 * reference FID code. All arithmetic in double.
 */
public final class FrechetDistance {
    private FrechetDistance() {
    }

    /** The mean and covariance of a feature set. */
    public record Stats(double[] mean, double[][] covariance) {
        /** Fits a Gaussian to {@code features} (n rows of d values, n >= 2). */
        public static Stats of(float[][] features) {
            int n = features.length;
            if (n < 2) {
                throw ArborException.invalid("a covariance needs at least 2 feature vectors, got " + n);
            }
            int d = features[0].length;
            double[] mean = new double[d];
            for (float[] f : features) {
                if (f.length != d) {
                    throw ArborException.invalid("feature vectors differ in length: " + d + " and " + f.length);
                }
                for (int j = 0; j < d; j++) {
                    mean[j] += f[j];
                }
            }
            for (int j = 0; j < d; j++) {
                mean[j] /= n;
            }
            double[][] cov = new double[d][d];
            double[] c = new double[d];
            for (float[] f : features) {
                for (int j = 0; j < d; j++) {
                    c[j] = f[j] - mean[j];
                }
                for (int a = 0; a < d; a++) {
                    double ca = c[a];
                    if (ca == 0) {
                        continue; // ReLU features are often exactly 0: nothing to add to row a
                    }
                    double[] row = cov[a];
                    for (int b = a; b < d; b++) {
                        row[b] += ca * c[b];
                    }
                }
            }
            for (int a = 0; a < d; a++) {
                for (int b = a; b < d; b++) {
                    cov[a][b] /= n - 1;
                    cov[b][a] = cov[a][b];
                }
            }
            return new Stats(mean, cov);
        }
    }

    /** The Fréchet distance between Gaussians fitted to two feature sets. */
    public static double between(float[][] a, float[][] b) {
        return between(Stats.of(a), Stats.of(b));
    }

    /** The Fréchet distance between two Gaussians given by their moments. */
    public static double between(Stats a, Stats b) {
        int d = a.mean().length;
        if (b.mean().length != d || a.covariance().length != d || b.covariance().length != d) {
            throw ArborException.invalid("Fréchet distance needs statistics of one dimension: " + d + " and "
                    + b.mean().length);
        }
        double meanTerm = 0;
        for (int j = 0; j < d; j++) {
            double diff = a.mean()[j] - b.mean()[j];
            meanTerm += diff * diff;
        }
        RealMatrix s1 = new Array2DRowRealMatrix(a.covariance(), true);
        RealMatrix s2 = new Array2DRowRealMatrix(b.covariance(), true);
        RealMatrix root1 = sqrtPsd(s1);
        RealMatrix inner = symmetrize(root1.multiply(s2).multiply(root1));
        double traceCross = 0;
        for (double ev : new EigenDecomposition(inner).getRealEigenvalues()) {
            traceCross += Math.sqrt(Math.max(0, ev));
        }
        double fd = meanTerm + s1.getTrace() + s2.getTrace() - 2 * traceCross;
        // Rounding can leave a tiny negative value for identical statistics; the distance itself is never below 0.
        return Math.max(0, fd);
    }

    /** The symmetric positive semi-definite square root of a covariance matrix. */
    static RealMatrix sqrtPsd(RealMatrix s) {
        EigenDecomposition e = new EigenDecomposition(symmetrize(s));
        RealMatrix v = e.getV();
        double[] ev = e.getRealEigenvalues();
        int d = ev.length;
        RealMatrix scaled = v.copy();
        for (int j = 0; j < d; j++) {
            double r = Math.sqrt(Math.max(0, ev[j]));
            for (int i = 0; i < d; i++) {
                scaled.setEntry(i, j, scaled.getEntry(i, j) * r);
            }
        }
        return symmetrize(scaled.multiply(v.transpose()));
    }

    private static RealMatrix symmetrize(RealMatrix m) {
        return m.add(m.transpose()).scalarMultiply(0.5);
    }
}
