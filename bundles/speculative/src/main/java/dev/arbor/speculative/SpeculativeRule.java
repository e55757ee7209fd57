package dev.arbor.speculative;

import dev.arbor.sampling.SamplingMath;
import java.util.function.IntToDoubleFunction;
import java.util.random.RandomGenerator;

/**
 * The acceptance rule of speculative sampling (Leviathan et al. 2023; Chen et al. 2023; METHODS.md section 2.2) for
 * one drafted token, shared by every loop that verifies drafts against a target row (the speculative loop, TiDAR):
 * keep draft x with probability min(1, p(x)/q(x)); after a rejection, draw the correction from norm(max(0, p - q)).
 * The emitted token then has exactly the target's law p whatever the draft's law q. Since 1.2.
 */
public final class SpeculativeRule {
    private SpeculativeRule() {
    }

    /**
     * Whether draft token x is kept, given its target probability {@code px} and draft probability {@code qx}. A
     * token the processed target rules out ({@code px <= 0}, e.g. a constraint's mask) is never kept, even from a
     * drafter that claimed q(x) = 0 for it; one uniform is drawn only when {@code px < qx}.
     */
    public static boolean accept(double px, double qx, RandomGenerator rng) {
        if (px <= 0) {
            return false;
        }
        return px >= qx || rng.nextDouble() * qx < px;
    }

    /**
     * The correction after a rejection: one uniform, then an inverse-CDF draw from max(0, p(v) - q(v)); where p and
     * q agree up to float rounding the residual has no mass, and p itself is then the right law.
     *
     * @param p     the target's processed distribution
     * @param vocab the number of ids drawn over (the first {@code vocab} entries of {@code p})
     * @param q     the draft's probability of each id
     */
    public static int resample(float[] p, int vocab, IntToDoubleFunction q, RandomGenerator rng) {
        double[] residual = new double[vocab];
        double mass = 0;
        for (int v = 0; v < vocab; v++) {
            residual[v] = Math.max(0.0, p[v] - q.applyAsDouble(v));
            mass += residual[v];
        }
        double u = rng.nextDouble();
        if (!(mass > 0)) {
            for (int v = 0; v < vocab; v++) {
                residual[v] = p[v];
            }
        }
        return SamplingMath.inverseCdf(residual, u);
    }
}
