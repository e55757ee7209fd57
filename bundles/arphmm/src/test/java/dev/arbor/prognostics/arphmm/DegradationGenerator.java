package dev.arbor.prognostics.arphmm;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Synthetic run-to-failure health-indicator trajectories, standing in for NASA's CMAPSS turbofan data (which the
 * project cannot download). Each unit is healthy for a while, then degrades at an accelerating rate until its
 * health indicator crosses the failure threshold, where the series ends (run to failure):
 * <pre>
 *   h(t) = h0 − a · (exp(r · max(0, t − t0)) − 1)        (noise-free health, h0 ≈ 1)
 *   y(t) = h(t) + e(t),  e(t) = ρ e(t−1) + N(0, σ²)       (autocorrelated sensor noise)
 *   failure: the first t with h(t) ≤ threshold; the series is y(0..failure)
 * </pre>
 * per unit h0 ~ U(0.95, 1.05), onset t0 ~ U(40, 140), rate r ~ U(0.015, 0.03), and a chosen so that the health
 * reaches the threshold 0.2 after a degradation phase of 80 to 160 steps (so life lengths are 120 to 300 steps).
 * The generator is not an ARHMM: a model fitted on it is judged on data it does not assume.
 */
final class DegradationGenerator {
    final double threshold;
    final double rho;
    final double sigma;

    DegradationGenerator(double threshold, double rho, double sigma) {
        this.threshold = threshold;
        this.rho = rho;
        this.sigma = sigma;
    }

    /** Threshold 0.2, noise AR(1) with ρ = 0.6 and σ = 0.02. */
    static DegradationGenerator standard() {
        return new DegradationGenerator(0.2, 0.6, 0.02);
    }

    /** One unit: its series (T × 1, ending at failure) and its noise-free health. */
    record Unit(double[][] series, double[] health) {
        /** The steps left after index t until the failure (the series' last index). */
        int remaining(int t) {
            return series.length - 1 - t;
        }
    }

    List<Unit> units(int count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        List<Unit> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(unit(random));
        }
        return out;
    }

    Unit unit(SplittableRandom random) {
        double h0 = 0.95 + 0.1 * random.nextDouble();
        int onset = 40 + random.nextInt(101);
        double rate = 0.015 + 0.015 * random.nextDouble();
        int degradation = 80 + random.nextInt(81);
        double a = (h0 - threshold) / (Math.exp(rate * degradation) - 1);
        List<double[]> ys = new ArrayList<>();
        List<Double> hs = new ArrayList<>();
        double e = 0;
        for (int t = 0; ; t++) {
            double h = h0 - a * (Math.exp(rate * Math.max(0, t - onset)) - 1);
            e = rho * e + sigma * random.nextGaussian();
            ys.add(new double[] {h + e});
            hs.add(h);
            if (h <= threshold + 1e-12) {
                break;
            }
        }
        return new Unit(ys.toArray(new double[0][]), hs.stream().mapToDouble(Double::doubleValue).toArray());
    }
}
