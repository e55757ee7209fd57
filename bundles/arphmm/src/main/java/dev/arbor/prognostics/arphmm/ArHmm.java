package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;

/**
 * The parameters of an autoregressive (partially-hidden) Markov model (Juesas, Ramasso et al., "Autoregressive Hidden
 * Markov Models with partial knowledge on latent space applied to aero-engines prognostics", PHME 2016 / IJPHM):
 * K states with initial law π and transitions A, and per state k an AR(P) Gaussian regression of the
 * D-dimensional observation on its P predecessors:
 * {@code y_t | s_t = k ~ N(Φ_{k,1} y_{t-1} + … + Φ_{k,P} y_{t-P} + b_k, Σ_k)}. The regression of state k is stored
 * as the D × (DP+1) matrix {@code W_k = [Φ_{k,1} … Φ_{k,P} | b_k]} acting on {@code z_t = [y_{t-1}; …; y_{t-P}; 1]}.
 * The first P observations of a sequence only condition the rest; π is the law of the state at time P+1.
 *
 * <p>Immutable and checked on construction (shapes, stochastic rows, symmetric positive-definite covariances,
 * finite values), with messages naming what is wrong. {@code failureState} is the state whose first entry ends the
 * useful life (remaining-useful-life estimates count the steps until it).
 */
public final class ArHmm {
    /** Row sums of π and A may differ from 1 by this much (files are written with 17 significant digits). */
    static final double STOCHASTIC_TOLERANCE = 1e-6;

    final int states;
    final int dimension;
    final int order;
    final Topology topology;
    final int failureState;
    final double[] initial;
    final double[][] transitions;
    /** [state][row d][column]: W_k, D × (DP+1). */
    final double[][][] regressions;
    final double[][][] covariances;
    /** Cholesky factors of the covariances and their log-determinants, for the emission densities. */
    final double[][][] choleskys;
    final double[] logDets;

    /** A checked model; INVALID_INPUT (from {@code source}'s point of view) naming the first inconsistency. */
    public ArHmm(int dimension, int order, Topology topology, int failureState, double[] initial,
                 double[][] transitions, double[][][] regressions, double[][][] covariances) {
        if (topology == null) {
            throw invalid("'topology' is required (full, left-right or chain)");
        }
        if (initial == null || initial.length < 1) {
            throw invalid("'initial' must hold one probability per state (at least one state)");
        }
        int k = initial.length;
        if (dimension < 1) {
            throw invalid("'dimension' must be at least 1, got " + dimension);
        }
        if (order < 0) {
            throw invalid("'order' (AR order P) must be 0 or more, got " + order);
        }
        if (failureState < 0 || failureState >= k) {
            throw invalid("'failure_state' must be a state 0.." + (k - 1) + ", got " + failureState);
        }
        stochastic("'initial'", initial, k);
        if (transitions == null || transitions.length != k) {
            throw invalid("'transitions' must be " + k + "×" + k + " (one row per state)");
        }
        for (int j = 0; j < k; j++) {
            stochastic("row " + j + " of 'transitions'", transitions[j], k);
            for (int i = 0; i < k; i++) {
                if (transitions[j][i] > 0 && !topology.allows(j, i)) {
                    throw invalid("'transitions'[" + j + "][" + i + "] = " + transitions[j][i] + " is not allowed by"
                            + " topology '" + topology.id() + "' (set it to 0 or declare topology 'full')");
                }
            }
        }
        int cols = dimension * order + 1;
        if (regressions == null || regressions.length != k || covariances == null || covariances.length != k) {
            throw invalid("'regressions' and 'covariances' must hold one matrix per state (" + k + ")");
        }
        this.choleskys = new double[k][][];
        this.logDets = new double[k];
        for (int s = 0; s < k; s++) {
            matrix("'regressions'[" + s + "]", regressions[s], dimension, cols);
            matrix("'covariances'[" + s + "]", covariances[s], dimension, dimension);
            for (int a = 0; a < dimension; a++) {
                for (int b = 0; b < a; b++) {
                    double x = covariances[s][a][b];
                    double y = covariances[s][b][a];
                    if (Math.abs(x - y) > 1e-9 * Math.max(1, Math.max(Math.abs(x), Math.abs(y)))) {
                        throw invalid("'covariances'[" + s + "] is not symmetric at [" + a + "][" + b + "]");
                    }
                }
            }
            choleskys[s] = Linalg.cholesky(covariances[s]);
            if (choleskys[s] == null) {
                throw invalid("'covariances'[" + s + "] is not positive definite (a covariance must be symmetric"
                        + " positive definite; add a small multiple of the identity)");
            }
            logDets[s] = Linalg.logDet(choleskys[s]);
        }
        this.states = k;
        this.dimension = dimension;
        this.order = order;
        this.topology = topology;
        this.failureState = failureState;
        this.initial = initial.clone();
        this.transitions = deep(transitions);
        this.regressions = deep(regressions);
        this.covariances = deep(covariances);
    }

    public int states() {
        return states;
    }

    public int dimension() {
        return dimension;
    }

    public int order() {
        return order;
    }

    public Topology topology() {
        return topology;
    }

    public int failureState() {
        return failureState;
    }

    public double[] initial() {
        return initial.clone();
    }

    public double[][] transitions() {
        return deep(transitions);
    }

    /** W_k = [Φ_{k,1} … Φ_{k,P} | b_k], D × (DP+1). */
    public double[][] regression(int state) {
        return deep(regressions[state]);
    }

    /** Φ_{k,i} (i = 1..P), D × D. */
    public double[][] ar(int state, int lag) {
        double[][] phi = new double[dimension][dimension];
        for (int a = 0; a < dimension; a++) {
            System.arraycopy(regressions[state][a], (lag - 1) * dimension, phi[a], 0, dimension);
        }
        return phi;
    }

    /** b_k. */
    public double[] intercept(int state) {
        double[] b = new double[dimension];
        for (int a = 0; a < dimension; a++) {
            b[a] = regressions[state][a][dimension * order];
        }
        return b;
    }

    public double[][] covariance(int state) {
        return deep(covariances[state]);
    }

    /** The regressor z_t = [y_{t-1}; …; y_{t-P}; 1] of step t (t ≥ P) of a sequence. */
    double[] regressor(double[][] y, int t) {
        double[] z = new double[dimension * order + 1];
        for (int i = 1; i <= order; i++) {
            System.arraycopy(y[t - i], 0, z, (i - 1) * dimension, dimension);
        }
        z[dimension * order] = 1;
        return z;
    }

    /** The mean W_k z of state k's regression. */
    double[] mean(int state, double[] z) {
        double[] m = new double[dimension];
        double[][] w = regressions[state];
        for (int a = 0; a < dimension; a++) {
            double s = 0;
            for (int c = 0; c < z.length; c++) {
                s += w[a][c] * z[c];
            }
            m[a] = s;
        }
        return m;
    }

    /** log N(y; W_k z, Σ_k). */
    double logDensity(int state, double[] y, double[] z) {
        double[] m = mean(state, z);
        double[] r = new double[dimension];
        for (int a = 0; a < dimension; a++) {
            r[a] = y[a] - m[a];
        }
        double[] u = Linalg.forward(choleskys[state], r);
        double q = 0;
        for (double v : u) {
            q += v * v;
        }
        return -0.5 * (dimension * Math.log(2 * Math.PI) + logDets[state] + q);
    }

    private static void stochastic(String what, double[] p, int k) {
        if (p == null || p.length != k) {
            throw invalid(what + " must hold " + k + " probabilities");
        }
        double sum = 0;
        for (double v : p) {
            if (!(v >= 0) || !Double.isFinite(v)) {
                throw invalid(what + " holds " + v + "; probabilities are finite and ≥ 0");
            }
            sum += v;
        }
        if (Math.abs(sum - 1) > STOCHASTIC_TOLERANCE) {
            throw invalid(what + " sums to " + sum + ", not 1 (a stochastic row)");
        }
    }

    private static void matrix(String what, double[][] m, int rows, int cols) {
        if (m == null || m.length != rows) {
            throw invalid(what + " must be " + rows + "×" + cols);
        }
        for (double[] row : m) {
            if (row == null || row.length != cols) {
                throw invalid(what + " must be " + rows + "×" + cols);
            }
            for (double v : row) {
                if (!Double.isFinite(v)) {
                    throw invalid(what + " holds a value that is not finite");
                }
            }
        }
    }

    static double[][] deep(double[][] m) {
        double[][] c = new double[m.length][];
        for (int i = 0; i < m.length; i++) {
            c[i] = m[i].clone();
        }
        return c;
    }

    static double[][][] deep(double[][][] m) {
        double[][][] c = new double[m.length][][];
        for (int i = 0; i < m.length; i++) {
            c[i] = deep(m[i]);
        }
        return c;
    }

    private static ArborException invalid(String message) {
        return ArborException.invalid("ARPHMM model: " + message);
    }
}
