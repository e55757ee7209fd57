package dev.arbor.guidance;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import java.util.Objects;

/**
 * One request's classifier-free guidance (Ho &amp; Salimans 2022; METHODS.md §3.2): a convention, a scale in that
 * convention and a ramp. Options: {@code guidance_scale} (default: {@code defaultScale}), {@code cfg_convention}
 * ({@code llamagen}|{@code var}|{@code llada}, default the caller's), {@code cfg_ramp}
 * ({@code constant}|{@code linear}|{@code cosine}, default the caller's).
 *
 * @param convention how {@code scale} is written
 * @param scale      the convention's parameter at full strength
 * @param ramp       how the parameter grows over the steps
 */
public record Guidance(CfgConvention convention, double scale, CfgRamp ramp) {

    /** Largest accepted |scale|: beyond it logits overflow float long before the output means anything. */
    public static final double MAX_SCALE = 100.0;

    public Guidance {
        Objects.requireNonNull(convention, "convention");
        Objects.requireNonNull(ramp, "ramp");
        if (!Double.isFinite(scale) || scale < 0 || scale > MAX_SCALE) {
            throw ArborException.invalid("guidance_scale must be in 0.." + (int) MAX_SCALE + ", got " + scale);
        }
    }

    /** Reads the options, with the caller's defaults; refusals name the option and the accepted values. */
    public static Guidance read(Options options, CfgConvention defaultConvention, double defaultScale,
                                CfgRamp defaultRamp) {
        CfgConvention convention = defaultConvention;
        String c = options.string("cfg_convention", null);
        if (c != null) {
            convention = CfgConvention.parse(c);
            if (convention == null) {
                throw ArborException.invalid("cfg_convention must be llamagen, var or llada, got '" + c + "'");
            }
        }
        CfgRamp ramp = defaultRamp;
        String r = options.string("cfg_ramp", null);
        if (r != null) {
            ramp = CfgRamp.parse(r);
            if (ramp == null) {
                throw ArborException.invalid("cfg_ramp must be constant, linear or cosine, got '" + r + "'");
            }
        }
        return new Guidance(convention, options.number("guidance_scale", defaultScale, 0, MAX_SCALE), ramp);
    }

    /** True when no step is guided: the scale is the convention's inert value. */
    public boolean inert() {
        return scale == convention.inert();
    }

    /** The convention's parameter at step {@code k} of {@code steps}. */
    public double parameterAt(int k, int steps) {
        double inert = convention.inert();
        double fraction = ramp.fraction(k, steps);
        if (fraction == 1.0) {
            // at full strength the scale itself: inert + (scale - inert) need not round back to it (1 + (0.1 - 1))
            return scale;
        }
        if (ramp == CfgRamp.LINEAR && fraction > 0.0) {
            // VAR's own evaluation order, cfg * si / (num_stages - 1), so t matches the reference bit for bit
            return inert + (scale - inert) * k / (steps - 1);
        }
        return inert + (scale - inert) * fraction;
    }

    /** True when step {@code k} needs an unconditional row (its parameter is not inert). */
    public boolean guides(int k, int steps) {
        return parameterAt(k, steps) != convention.inert();
    }

    /**
     * The guided row of step {@code k} of {@code steps}; {@code cond} itself (not a copy) when the step is inert.
     * {@code model} names the backend in errors.
     */
    public float[] combine(float[] cond, float[] uncond, int k, int steps, String model) {
        double parameter = parameterAt(k, steps);
        if (parameter == convention.inert()) {
            return cond;
        }
        return combineWeighted(cond, uncond, convention.weight(parameter), model);
    }

    /**
     * {@code uncond + w·(cond − uncond)} computed as {@code cond + (w − 1)·(cond − uncond)} in double and rounded
     * once, so {@code w = 1} and {@code cond == uncond} return {@code cond} bit for bit. A {@code -inf} entry in
     * either row gives {@code cond} at {@code w = 1}, {@code uncond} at {@code w = 0} and {@code -inf} otherwise
     * (probability form {@code p(x|c)^w·p(x)^(1−w)}); NaN and {@code +inf} are backend bugs and are refused.
     */
    public static float[] combineWeighted(float[] cond, float[] uncond, double w, String model) {
        if (cond.length != uncond.length) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, model + " returned a conditional row of "
                    + cond.length + " logits and an unconditional row of " + uncond.length);
        }
        double wMinusOne = w - 1.0;
        float[] out = new float[cond.length];
        for (int i = 0; i < out.length; i++) {
            float c = cond[i];
            float u = uncond[i];
            if (Float.isNaN(c) || Float.isNaN(u) || c == Float.POSITIVE_INFINITY || u == Float.POSITIVE_INFINITY) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, model + " returned logit "
                        + (Float.isNaN(c) || c == Float.POSITIVE_INFINITY ? c + " in the conditional" : u
                        + " in the unconditional") + " row for token " + i + "; guidance needs finite logits or -inf");
            }
            if (c == Float.NEGATIVE_INFINITY || u == Float.NEGATIVE_INFINITY) {
                out[i] = w == 1.0 ? c : w == 0.0 ? u : Float.NEGATIVE_INFINITY;
            } else {
                out[i] = (float) (c + wMinusOne * ((double) c - (double) u));
            }
        }
        return out;
    }
}
