package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.Cancellation;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Forecasts a health-indicator series by simulating the ARPHMM forward (METHODS §3.19): the current state is drawn
 * from the filtered posterior, then each future step draws the next state from A and the observation from that
 * state's AR regression on the P latest values (observed, then simulated). Summaries per future step: the mean and
 * the 5 %, 50 % and 95 % quantiles of every dimension, and the probability that the failure state was entered by
 * then. Seeded: the same seed gives the same forecast.
 */
final class Forecaster {
    /** [step][dimension]. */
    final double[][] mean;
    final double[][] lower;
    final double[][] median;
    final double[][] upper;
    /** P(the failure state entered within h steps), h = 1..H. */
    final double[] failureProbability;

    private Forecaster(double[][] mean, double[][] lower, double[][] median, double[][] upper, double[] failure) {
        this.mean = mean;
        this.lower = lower;
        this.median = median;
        this.upper = upper;
        this.failureProbability = failure;
    }

    static Forecaster simulate(ArHmm model, double[][] history, double[] posterior, int horizon, int samples,
                               long seed, Cancellation cancellation) {
        int d = model.dimension;
        int p = model.order;
        SplittableRandom random = new SplittableRandom(seed);
        double[][][] values = new double[horizon][d][samples];
        int[] failedBy = new int[horizon];
        double[][] window = new double[p + horizon][];
        for (int i = 0; i < p; i++) {
            window[i] = history[history.length - p + i];
        }
        for (int m = 0; m < samples; m++) {
            if ((m & 63) == 0 && cancellation.isCancelled()) {
                throw new ArborException(ArborException.Kind.CANCELLED, "the forecast was cancelled or ran past the"
                        + " request's deadline after " + m + " of " + samples + " paths; ask for fewer samples or a"
                        + " shorter horizon");
            }
            int s = Sampling.categorical(posterior, random);
            boolean failed = s == model.failureState;
            for (int h = 0; h < horizon; h++) {
                s = Sampling.categorical(model.transitions[s], random);
                failed |= s == model.failureState;
                double[] y = Sampling.observation(model, s, model.regressor(window, p + h), random);
                window[p + h] = y;
                for (int a = 0; a < d; a++) {
                    values[h][a][m] = y[a];
                }
                if (failed) {
                    failedBy[h]++;
                }
            }
        }
        double[][] mean = new double[horizon][d];
        double[][] lower = new double[horizon][d];
        double[][] median = new double[horizon][d];
        double[][] upper = new double[horizon][d];
        double[] failure = new double[horizon];
        for (int h = 0; h < horizon; h++) {
            for (int a = 0; a < d; a++) {
                double[] v = values[h][a];
                double sum = 0;
                for (double x : v) {
                    sum += x;
                }
                mean[h][a] = sum / samples;
                Arrays.sort(v);
                lower[h][a] = Sampling.quantile(v, 0.05);
                median[h][a] = Sampling.quantile(v, 0.5);
                upper[h][a] = Sampling.quantile(v, 0.95);
            }
            failure[h] = failedBy[h] / (double) samples;
        }
        return new Forecaster(mean, lower, median, upper, failure);
    }
}
