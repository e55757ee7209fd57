package dev.arbor.prognostics.arphmm;

/**
 * The little dense linear algebra the ARPHMM needs, in double precision: Cholesky factors of the D×D covariances
 * and of the (DP+1)×(DP+1) ridge-regularised normal equations, and the K×K solve of the expected absorption time.
 * Hand-written because the matrices are tiny and only these three operations are needed.
 */
final class Linalg {
    private Linalg() {
    }

    /**
     * The lower Cholesky factor L (A = L Lᵀ) of a symmetric matrix, or null when A is not positive definite (a
     * pivot ≤ 0 or not finite). Only the lower triangle of {@code a} is read.
     */
    static double[][] cholesky(double[][] a) {
        int n = a.length;
        double[][] l = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = a[i][j];
                for (int k = 0; k < j; k++) {
                    s -= l[i][k] * l[j][k];
                }
                if (i == j) {
                    if (!(s > 0) || !Double.isFinite(s)) {
                        return null;
                    }
                    l[i][i] = Math.sqrt(s);
                } else {
                    l[i][j] = s / l[j][j];
                }
            }
        }
        return l;
    }

    /** Solves L x = b (L lower triangular) in place of a copy. */
    static double[] forward(double[][] l, double[] b) {
        int n = b.length;
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            double s = b[i];
            for (int k = 0; k < i; k++) {
                s -= l[i][k] * x[k];
            }
            x[i] = s / l[i][i];
        }
        return x;
    }

    /** Solves Lᵀ x = b (L lower triangular). */
    static double[] backward(double[][] l, double[] b) {
        int n = b.length;
        double[] x = new double[n];
        for (int i = n - 1; i >= 0; i--) {
            double s = b[i];
            for (int k = i + 1; k < n; k++) {
                s -= l[k][i] * x[k];
            }
            x[i] = s / l[i][i];
        }
        return x;
    }

    /** Solves A x = b for A = L Lᵀ. */
    static double[] cholSolve(double[][] l, double[] b) {
        return backward(l, forward(l, b));
    }

    /** log det A for A = L Lᵀ. */
    static double logDet(double[][] l) {
        double s = 0;
        for (int i = 0; i < l.length; i++) {
            s += Math.log(l[i][i]);
        }
        return 2 * s;
    }

    /**
     * Solves the general square system A x = b by Gaussian elimination with partial pivoting; null when A is
     * singular to working precision (a pivot below 1e-12 times the largest entry).
     */
    static double[] solve(double[][] a, double[] b) {
        int n = b.length;
        double[][] m = new double[n][];
        double scale = 0;
        for (int i = 0; i < n; i++) {
            m[i] = java.util.Arrays.copyOf(a[i], n + 1);
            m[i][n] = b[i];
            for (int j = 0; j < n; j++) {
                scale = Math.max(scale, Math.abs(a[i][j]));
            }
        }
        for (int c = 0; c < n; c++) {
            int p = c;
            for (int r = c + 1; r < n; r++) {
                if (Math.abs(m[r][c]) > Math.abs(m[p][c])) {
                    p = r;
                }
            }
            if (!(Math.abs(m[p][c]) > 1e-12 * scale)) {
                return null;
            }
            double[] t = m[c];
            m[c] = m[p];
            m[p] = t;
            for (int r = c + 1; r < n; r++) {
                double f = m[r][c] / m[c][c];
                if (f != 0) {
                    for (int j = c; j <= n; j++) {
                        m[r][j] -= f * m[c][j];
                    }
                }
            }
        }
        double[] x = new double[n];
        for (int i = n - 1; i >= 0; i--) {
            double s = m[i][n];
            for (int j = i + 1; j < n; j++) {
                s -= m[i][j] * x[j];
            }
            x[i] = s / m[i][i];
        }
        return x;
    }
}
