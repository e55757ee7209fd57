package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Maximum-likelihood fitting of an ARPHMM by EM (METHODS §3.19; Juesas, Ramasso et al., PHME 2016): the E-step is
 * {@link ForwardBackward} with the plausibilities, summed over sequences; the M-step is Baum-Welch for π and A
 * (zeros stay zeros) and, per state, a weighted least-squares regression
 * {@code W_k = (Σ_t γ_t(k) y_t z_tᵀ)(Σ_t γ_t(k) z_t z_tᵀ + λI)^{-1}} with residual covariance
 * {@code Σ_k = Σ_t γ_t(k) r_t r_tᵀ / Σ_t γ_t(k) + εI}. Each restart stops when the log-likelihood grows by less than
 * {@code tolerance} relative to its magnitude, or after {@code maxIterations}; the restart with the best final
 * log-likelihood wins.
 *
 * <p>With λ = ε = 0 this is exact EM and the (weighted) log-likelihood never decreases; with λ, ε &gt; 0 EM ascends
 * the likelihood plus the ridge and floor penalties, which the small defaults keep within rounding of it.
 *
 * <p>Initialisation (restart r, seeded by {@code seed + r}): left-right and chain models cut each sequence into K
 * consecutive segments (equal lengths for r = 0, random cut points otherwise), as a run to failure passes the states
 * in order; full models assign each step to its k-means++ cluster of observations. A step whose plausibility rules
 * the assigned state out goes to its most plausible state. The first parameters are the M-step of these hard
 * assignments, with one pseudo-count on every allowed transition so no allowed transition starts at zero.
 */
public final class EmTrainer {
    private EmTrainer() {
    }

    /** The outcome of a fit: the best model, its log-likelihood, and the per-iteration trace of its restart. */
    public record Result(ArHmm model, double logLikelihood, int iterations, int restart, double[] trace) {
    }

    /** One EM iteration: the log-likelihood of {@code model} (the E-step's) and the model after the M-step. */
    public record Step(double logLikelihood, ArHmm next) {
    }

    /** Fits {@code sequences} (each T × D; plausibilities T × K each, or null entries / null list: hidden). */
    public static Result fit(List<double[][]> sequences, List<double[][]> plausibilities, EmSettings settings) {
        TrainingData data = new TrainingData(sequences, plausibilities, settings.states(), settings.order());
        Result best = null;
        for (int r = 0; r < settings.restarts(); r++) {
            Result result = run(initialise(data, settings, r), data, settings, r);
            if (best == null || result.logLikelihood > best.logLikelihood) {
                best = result;
            }
        }
        return best;
    }

    /** Runs EM from {@code start} until the tolerance or the iteration limit. */
    public static Result run(ArHmm start, List<double[][]> sequences, List<double[][]> plausibilities,
                             EmSettings settings) {
        return run(start, new TrainingData(sequences, plausibilities, start.states, start.order), settings, 0);
    }

    private static Result run(ArHmm start, TrainingData data, EmSettings settings, int restart) {
        ArHmm model = start;
        double[] trace = new double[settings.maxIterations() + 1];
        int iterations = 0;
        double previous = Double.NEGATIVE_INFINITY;
        while (true) {
            Step step = step(model, data, settings);
            trace[iterations] = step.logLikelihood;
            boolean converged = iterations > 0
                    && step.logLikelihood - previous < settings.tolerance() * Math.abs(previous);
            if (converged || iterations == settings.maxIterations()) {
                return new Result(model, step.logLikelihood, iterations, restart,
                        Arrays.copyOf(trace, iterations + 1));
            }
            previous = step.logLikelihood;
            model = step.next;
            iterations++;
        }
    }

    /** One EM iteration on the given sequences. */
    public static Step step(ArHmm model, List<double[][]> sequences, List<double[][]> plausibilities,
                            EmSettings settings) {
        return step(model, new TrainingData(sequences, plausibilities, model.states, model.order), settings);
    }

    static Step step(ArHmm model, TrainingData data, EmSettings settings) {
        int k = model.states;
        double[] first = new double[k];
        double[][] xi = new double[k][k];
        List<double[][]> gammas = new ArrayList<>();
        double logLik = 0;
        for (int i = 0; i < data.size(); i++) {
            ForwardBackward fb = ForwardBackward.run(model, data.sequences.get(i), data.plausibilities.get(i));
            logLik += fb.logLikelihood;
            for (int s = 0; s < k; s++) {
                first[s] += fb.smoothed[0][s];
                for (int j = 0; j < k; j++) {
                    xi[s][j] += fb.transitions[s][j];
                }
            }
            gammas.add(fb.smoothed);
        }
        double[] initial = normalised(first, model.initial);
        double[][] transitions = new double[k][];
        for (int s = 0; s < k; s++) {
            transitions[s] = normalised(xi[s], model.transitions[s]);
        }
        ArHmm next = maximiseEmissions(data, gammas, model.dimension, model.order, model.topology, model.failureState,
                initial, transitions, settings, model);
        return new Step(logLik, next);
    }

    /** The row of counts normalised to probabilities; the previous row where there are no counts. */
    private static double[] normalised(double[] counts, double[] previous) {
        double sum = 0;
        for (double c : counts) {
            sum += c;
        }
        if (!(sum > 0)) {
            return previous.clone();
        }
        double[] p = new double[counts.length];
        for (int i = 0; i < p.length; i++) {
            p[i] = counts[i] / sum;
        }
        return p;
    }

    /**
     * The weighted least-squares M-step of every state's regression and covariance, given the posteriors
     * {@code gammas} (one [step - P][state] matrix per sequence). A state without weight keeps its previous
     * parameters (or, with none, the pooled regression of all steps).
     */
    static ArHmm maximiseEmissions(TrainingData data, List<double[][]> gammas, int d, int p, Topology topology,
                                   int failureState, double[] initial, double[][] transitions, EmSettings settings,
                                   ArHmm previous) {
        int k = initial.length;
        int cols = d * p + 1;
        double[][][] w = new double[k][][];
        double[][][] sigma = new double[k][][];
        double[][] pooledW = null;
        double[][] pooledSigma = null;
        for (int s = 0; s < k; s++) {
            double[][] szz = new double[cols][cols];
            double[][] syz = new double[d][cols];
            double n = 0;
            for (int i = 0; i < data.size(); i++) {
                double[][] y = data.sequences.get(i);
                double[][] g = gammas.get(i);
                for (int t = p; t < y.length; t++) {
                    double weight = g == null ? 1 : g[t - p][s];
                    if (weight == 0) {
                        continue;
                    }
                    n += weight;
                    double[] z = regressor(y, t, d, p);
                    for (int a = 0; a < cols; a++) {
                        double wz = weight * z[a];
                        for (int b = 0; b <= a; b++) {
                            szz[a][b] += wz * z[b];
                        }
                        for (int r = 0; r < d; r++) {
                            syz[r][a] += weight * y[t][r] * z[a];
                        }
                    }
                }
            }
            if (!(n > 1e-10)) {
                if (previous != null) {
                    w[s] = previous.regression(s);
                    sigma[s] = previous.covariance(s);
                } else {
                    if (pooledW == null) {
                        ArHmm pooled = maximiseEmissions(data, nullGammas(data.size()), d, p, topology, 0,
                                new double[] {1}, new double[][] {{1}}, settings, null);
                        pooledW = pooled.regression(0);
                        pooledSigma = pooled.covariance(0);
                    }
                    w[s] = ArHmm.deep(pooledW);
                    sigma[s] = ArHmm.deep(pooledSigma);
                }
                continue;
            }
            w[s] = regression(szz, syz, settings.ridge(), n);
            double[][] cov = new double[d][d];
            for (int i = 0; i < data.size(); i++) {
                double[][] y = data.sequences.get(i);
                double[][] g = gammas.get(i);
                for (int t = p; t < y.length; t++) {
                    double weight = g == null ? 1 : g[t - p][s];
                    if (weight == 0) {
                        continue;
                    }
                    double[] z = regressor(y, t, d, p);
                    double[] r = new double[d];
                    for (int a = 0; a < d; a++) {
                        double m = 0;
                        for (int c = 0; c < cols; c++) {
                            m += w[s][a][c] * z[c];
                        }
                        r[a] = y[t][a] - m;
                    }
                    for (int a = 0; a < d; a++) {
                        for (int b = 0; b <= a; b++) {
                            cov[a][b] += weight * r[a] * r[b];
                        }
                    }
                }
            }
            for (int a = 0; a < d; a++) {
                for (int b = 0; b <= a; b++) {
                    cov[a][b] /= n;
                    cov[b][a] = cov[a][b];
                }
                cov[a][a] += settings.covarianceFloor();
            }
            sigma[s] = positiveDefinite(cov);
        }
        return new ArHmm(d, p, topology, failureState, initial, transitions, w, sigma);
    }

    private static List<double[][]> nullGammas(int n) {
        List<double[][]> list = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            list.add(null);
        }
        return list;
    }

    static double[] regressor(double[][] y, int t, int d, int p) {
        double[] z = new double[d * p + 1];
        for (int i = 1; i <= p; i++) {
            System.arraycopy(y[t - i], 0, z, (i - 1) * d, d);
        }
        z[d * p] = 1;
        return z;
    }

    /**
     * W = Syz (Szz + λI)^{-1} by Cholesky ({@code szz}: lower triangle). When the normal equations are singular (a
     * state with fewer weighted steps than regressors and λ = 0), a ridge of 1e-10 times the mean diagonal is
     * added: the least-norm-like solution, not a failure.
     */
    private static double[][] regression(double[][] szz, double[][] syz, double lambda, double n) {
        int cols = szz.length;
        double[][] m = new double[cols][cols];
        double trace = 0;
        for (int a = 0; a < cols; a++) {
            for (int b = 0; b <= a; b++) {
                m[a][b] = szz[a][b];
                m[b][a] = szz[a][b];
            }
            m[a][a] += lambda;
            trace += szz[a][a];
        }
        double[][] l = Linalg.cholesky(m);
        double jitter = 1e-10 * Math.max(trace / cols, 1e-300);
        while (l == null && jitter < 1e300) {
            for (int a = 0; a < cols; a++) {
                m[a][a] += jitter;
            }
            l = Linalg.cholesky(m);
            jitter *= 10;
        }
        int d = syz.length;
        double[][] w = new double[d][];
        for (int r = 0; r < d; r++) {
            // W rows solve (Szz + λI) w_r = Syz_r (the matrix is symmetric)
            w[r] = Linalg.cholSolve(l, syz[r]);
        }
        return w;
    }

    /** The covariance itself when positive definite, else with the smallest diagonal jitter that makes it so. */
    private static double[][] positiveDefinite(double[][] cov) {
        if (Linalg.cholesky(cov) != null) {
            return cov;
        }
        int d = cov.length;
        double trace = 0;
        for (int a = 0; a < d; a++) {
            trace += Math.abs(cov[a][a]);
        }
        double jitter = Math.max(1e-12 * trace / d, 1e-300);
        while (true) {
            double[][] c = ArHmm.deep(cov);
            for (int a = 0; a < d; a++) {
                c[a][a] += jitter;
            }
            if (Linalg.cholesky(c) != null) {
                return c;
            }
            jitter *= 10;
            if (!Double.isFinite(jitter)) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "ARPHMM EM: a covariance cannot be made"
                        + " positive definite; the training data may hold constant or duplicated series");
            }
        }
    }

    /** The initial model of restart {@code restart} (see the class comment). */
    static ArHmm initialise(TrainingData data, EmSettings settings, int restart) {
        int k = settings.states();
        int p = settings.order();
        SplittableRandom random = new SplittableRandom(settings.seed() + restart);
        List<int[]> assignments = settings.topology() == Topology.FULL
                ? kMeans(data, k, p, random) : segments(data, k, p, restart == 0 ? null : random);
        List<double[][]> gammas = new ArrayList<>();
        double[] first = new double[k];
        double[][] counts = new double[k][k];
        Arrays.fill(first, 1);
        for (int j = 0; j < k; j++) {
            for (int s = 0; s < k; s++) {
                counts[j][s] = settings.topology().allows(j, s) ? 1 : 0;
            }
        }
        for (int i = 0; i < data.size(); i++) {
            int[] z = assignments.get(i);
            double[][] l = data.plausibilities.get(i);
            double[][] g = new double[z.length][k];
            for (int t = 0; t < z.length; t++) {
                if (l != null && l[t + p][z[t]] == 0) {
                    z[t] = argmax(l[t + p]);
                }
                g[t][z[t]] = 1;
                if (t > 0 && settings.topology().allows(z[t - 1], z[t])) {
                    counts[z[t - 1]][z[t]]++;
                }
            }
            first[z[0]] += 1;
            gammas.add(g);
        }
        double[][] transitions = new double[k][];
        for (int j = 0; j < k; j++) {
            transitions[j] = normalised(counts[j], counts[j]);
        }
        return maximiseEmissions(data, gammas, data.dimension, p, settings.topology(), settings.failure(),
                normalised(first, first), transitions, settings, null);
    }

    private static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /** K consecutive segments per sequence: equal lengths ({@code random} null) or random cut points. */
    private static List<int[]> segments(TrainingData data, int k, int p, SplittableRandom random) {
        List<int[]> out = new ArrayList<>();
        for (double[][] y : data.sequences) {
            int n = y.length - p;
            double[] cuts = new double[k - 1];
            for (int c = 0; c < k - 1; c++) {
                cuts[c] = random == null ? (c + 1.0) / k : random.nextDouble();
            }
            Arrays.sort(cuts);
            int[] z = new int[n];
            for (int t = 0; t < n; t++) {
                double u = (t + 0.5) / n;
                int s = 0;
                while (s < k - 1 && u > cuts[s]) {
                    s++;
                }
                z[t] = s;
            }
            out.add(z);
        }
        return out;
    }

    /** Hard assignments of the steps t ≥ P to k-means++ clusters of their observations (20 Lloyd iterations). */
    private static List<int[]> kMeans(TrainingData data, int k, int p, SplittableRandom random) {
        List<double[]> points = new ArrayList<>();
        for (double[][] y : data.sequences) {
            for (int t = p; t < y.length; t++) {
                points.add(y[t]);
            }
        }
        int d = data.dimension;
        double[][] centres = new double[k][];
        centres[0] = points.get(random.nextInt(points.size())).clone();
        double[] dist = new double[points.size()];
        for (int c = 1; c < k; c++) {
            double total = 0;
            for (int i = 0; i < points.size(); i++) {
                double best = Double.POSITIVE_INFINITY;
                for (int j = 0; j < c; j++) {
                    best = Math.min(best, sq(points.get(i), centres[j]));
                }
                dist[i] = best;
                total += best;
            }
            double u = random.nextDouble() * total;
            int chosen = points.size() - 1;
            for (int i = 0; i < points.size(); i++) {
                u -= dist[i];
                if (u <= 0) {
                    chosen = i;
                    break;
                }
            }
            centres[c] = points.get(chosen).clone();
        }
        int[] label = new int[points.size()];
        for (int iter = 0; iter < 20; iter++) {
            for (int i = 0; i < points.size(); i++) {
                int best = 0;
                for (int j = 1; j < k; j++) {
                    if (sq(points.get(i), centres[j]) < sq(points.get(i), centres[best])) {
                        best = j;
                    }
                }
                label[i] = best;
            }
            double[][] sum = new double[k][d];
            int[] count = new int[k];
            for (int i = 0; i < points.size(); i++) {
                count[label[i]]++;
                for (int a = 0; a < d; a++) {
                    sum[label[i]][a] += points.get(i)[a];
                }
            }
            for (int j = 0; j < k; j++) {
                if (count[j] > 0) {
                    for (int a = 0; a < d; a++) {
                        centres[j][a] = sum[j][a] / count[j];
                    }
                }
            }
        }
        List<int[]> out = new ArrayList<>();
        int at = 0;
        for (double[][] y : data.sequences) {
            int[] z = new int[y.length - p];
            for (int t = 0; t < z.length; t++) {
                z[t] = label[at++];
            }
            out.add(z);
        }
        return out;
    }

    private static double sq(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            double v = a[i] - b[i];
            s += v * v;
        }
        return s;
    }

    static ArborException invalid(String message) {
        return ArborException.invalid(message);
    }
}
