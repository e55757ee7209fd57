package dev.arbor.generation.nextx;

import java.util.Locale;
import java.util.function.BooleanSupplier;
import java.util.random.RandomGenerator;

/**
 * Integrates a flow-matching velocity field from noise (t = 0) to data (t = 1) in {@code steps} uniform steps, for
 * the rectified-flow path {@code x_t = t·x_1 + (1−t)·ε} the priors are trained on. xAR's samplers
 * ({@code github.com/OliverRensu/xAR @121e9c9 : models/sampler.py}, {@code euler_sampler} and
 * {@code euler_maruyama_sampler}, the SiT/REPA forms with t running the other way):
 * <ul>
 *   <li>{@link #EULER}: the probability-flow ODE, {@code x ← x + v(x, t)·Δt};</li>
 *   <li>{@link #EULER_MARUYAMA}: the SDE with the same marginals and diffusion {@code w(t) = 2(1−t)} (REPA's
 *       {@code compute_diffusion}: twice the noise level), drift {@code v + (w/2)·score} with the score of the
 *       linear path {@code score = −(x − t·v)/(1−t)}, i.e. {@code (1+t)·v − x}; noise {@code √(w·Δt)·z}; the last
 *       step is a plain Euler step (no noise), as REPA's sampler ends with the mean.</li>
 * </ul>
 * xAR's sampler starts its SDE grid a little after pure noise and uses its own step spacing [unverified detail]; the
 * uniform grid from 0 to 1 is this project's form.
 */
public enum FlowSampler {
    EULER,
    EULER_MARUYAMA;

    /** The velocity {@code [tokens][D]} of the state {@code x [tokens][D]} at time {@code t}. */
    @FunctionalInterface
    public interface Velocity {
        float[][] at(float[][] x, double t);
    }

    /** Parses {@code euler} or {@code euler_maruyama} (case ignored); null for anything else. */
    public static FlowSampler parse(String name) {
        for (FlowSampler s : values()) {
            if (s.wireName().equalsIgnoreCase(name == null ? "" : name.strip())) {
                return s;
            }
        }
        return null;
    }

    /** The option value naming this sampler. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Integrates from {@code noise} (not modified) over {@code steps} steps, drawing the SDE's noise from
     * {@code random} token by token, value by value; {@code cancelled} is asked before every velocity evaluation and
     * a true answer returns null. Returns the state at t = 1.
     */
    public float[][] integrate(float[][] noise, int steps, Velocity velocity, RandomGenerator random,
                               BooleanSupplier cancelled) {
        if (steps < 1) {
            throw new IllegalArgumentException("a flow needs at least one step, got " + steps);
        }
        float[][] x = new float[noise.length][];
        for (int i = 0; i < x.length; i++) {
            x[i] = noise[i].clone();
        }
        double dt = 1.0 / steps;
        for (int s = 0; s < steps; s++) {
            if (cancelled.getAsBoolean()) {
                return null;
            }
            double t = s * dt;
            float[][] v = velocity.at(x, t);
            boolean stochastic = this == EULER_MARUYAMA && s < steps - 1;
            double sd = stochastic ? Math.sqrt(2 * (1 - t) * dt) : 0;
            for (int i = 0; i < x.length; i++) {
                for (int j = 0; j < x[i].length; j++) {
                    double xi = x[i][j];
                    double drift = stochastic ? (1 + t) * v[i][j] - xi : v[i][j];
                    x[i][j] = (float) (xi + drift * dt + (stochastic ? sd * random.nextGaussian() : 0));
                }
            }
        }
        return x;
    }
}
