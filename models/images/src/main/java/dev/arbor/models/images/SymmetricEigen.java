package dev.arbor.models.images;

/**
 * Eigenvectors of a small symmetric matrix by the cyclic Jacobi method (Golub &amp; Van Loan, Matrix Computations,
 * §8.5): plane rotations annihilate the off-diagonal entries until they vanish; the accumulated rotations are the
 * eigenvectors. Exact enough and dependency-free for the 16x16 patch covariance of {@link PatchPcaCodec}.
 */
final class SymmetricEigen {
    private static final int MAX_SWEEPS = 100;

    private SymmetricEigen() {
    }

    /**
     * The eigenvectors of symmetric {@code a} (not modified) as rows of unit length, ordered by decreasing
     * eigenvalue.
     */
    static double[][] decompose(double[][] a) {
        int n = a.length;
        double[][] m = new double[n][];
        for (int i = 0; i < n; i++) {
            if (a[i].length != n) throw new IllegalArgumentException("matrix is not square");
            m[i] = a[i].clone();
        }
        double[][] v = new double[n][n]; // columns = eigenvectors
        for (int i = 0; i < n; i++) v[i][i] = 1;
        for (int sweep = 0; sweep < MAX_SWEEPS; sweep++) {
            double off = 0;
            double diag = 0;
            for (int p = 0; p < n; p++) {
                diag += m[p][p] * m[p][p];
                for (int q = p + 1; q < n; q++) off += m[p][q] * m[p][q];
            }
            if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
            for (int p = 0; p < n; p++) {
                for (int q = p + 1; q < n; q++) {
                    if (m[p][q] == 0) continue;
                    double theta = (m[q][q] - m[p][p]) / (2 * m[p][q]);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.sqrt(t * t + 1);
                    double s = t * c;
                    for (int k = 0; k < n; k++) { // m = m·J
                        double mkp = m[k][p];
                        double mkq = m[k][q];
                        m[k][p] = c * mkp - s * mkq;
                        m[k][q] = s * mkp + c * mkq;
                    }
                    for (int k = 0; k < n; k++) { // m = Jᵀ·m
                        double mpk = m[p][k];
                        double mqk = m[q][k];
                        m[p][k] = c * mpk - s * mqk;
                        m[q][k] = s * mpk + c * mqk;
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
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) order[i] = i;
        double[][] mm = m;
        java.util.Arrays.sort(order, (x, y) -> Double.compare(mm[y][y], mm[x][x]));
        double[][] rows = new double[n][n];
        for (int r = 0; r < n; r++) {
            for (int k = 0; k < n; k++) rows[r][k] = v[k][order[r]];
        }
        return rows;
    }
}
