package dev.arbor.prognostics.arphmm;

import java.util.SplittableRandom;

/** Small random models for the tests. */
final class Models {
    private Models() {
    }

    /** A random model with every transition allowed and positive, stable-ish AR coefficients. */
    static ArHmm random(int k, int d, int p, SplittableRandom random) {
        double[] pi = dirichlet(k, random);
        double[][] a = new double[k][];
        for (int j = 0; j < k; j++) {
            a[j] = dirichlet(k, random);
        }
        double[][][] w = new double[k][d][d * p + 1];
        double[][][] sigma = new double[k][d][d];
        for (int s = 0; s < k; s++) {
            for (int r = 0; r < d; r++) {
                for (int c = 0; c < d * p; c++) {
                    w[s][r][c] = (random.nextDouble() - 0.5) * 0.8 / Math.max(1, d * p);
                }
                w[s][r][d * p] = (random.nextDouble() - 0.5) * 4;
            }
            // Σ = B Bᵀ + 0.1 I
            double[][] b = new double[d][d];
            for (int r = 0; r < d; r++) {
                for (int c = 0; c < d; c++) {
                    b[r][c] = random.nextDouble() - 0.5;
                }
            }
            for (int r = 0; r < d; r++) {
                for (int c = 0; c < d; c++) {
                    double v = r == c ? 0.1 : 0;
                    for (int m = 0; m < d; m++) {
                        v += b[r][m] * b[c][m];
                    }
                    sigma[s][r][c] = v;
                }
            }
        }
        return new ArHmm(d, p, Topology.FULL, k - 1, pi, a, w, sigma);
    }

    static double[] dirichlet(int k, SplittableRandom random) {
        double[] v = new double[k];
        double sum = 0;
        for (int i = 0; i < k; i++) {
            v[i] = 0.2 + random.nextDouble();
            sum += v[i];
        }
        for (int i = 0; i < k; i++) {
            v[i] /= sum;
        }
        return v;
    }

    /** A random T × K matrix of plausibilities in (0, 1]. */
    static double[][] plausibilities(int t, int k, SplittableRandom random) {
        double[][] l = new double[t][k];
        for (int i = 0; i < t; i++) {
            for (int s = 0; s < k; s++) {
                l[i][s] = 0.05 + 0.95 * random.nextDouble();
            }
        }
        return l;
    }
}
