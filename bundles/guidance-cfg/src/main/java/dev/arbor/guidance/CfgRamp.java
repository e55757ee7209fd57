package dev.arbor.guidance;

/**
 * How the guidance parameter moves from its inert value to the configured scale over a generation's steps (tokens
 * of a raster image, scales of a next-scale image): {@code param(k) = inert + (scale − inert)·r(k)}.
 */
public enum CfgRamp {
    /** {@code r = 1} at every step (LlamaGen, Lumina-mGPT). */
    CONSTANT,
    /** {@code r = k/(K−1)}: inert at the first step, full at the last (VAR's {@code t = cfg·k/(K−1)}; xAR). */
    LINEAR,
    /** {@code r = (1 − cos(π·k/(K−1)))/2}: a smooth version of the linear ramp. */
    COSINE;

    /** The ramp's fraction at step {@code k} of {@code steps} (1 when there is only one step). */
    public double fraction(int k, int steps) {
        if (this == CONSTANT || steps <= 1) {
            return 1.0;
        }
        double x = Math.min(1.0, Math.max(0.0, k / (double) (steps - 1)));
        return this == LINEAR ? x : (1.0 - Math.cos(Math.PI * x)) / 2.0;
    }

    /** Parses {@code constant}, {@code linear} or {@code cosine} (case ignored); null for anything else. */
    public static CfgRamp parse(String name) {
        for (CfgRamp r : values()) {
            if (r.name().equalsIgnoreCase(name == null ? "" : name.strip())) {
                return r;
            }
        }
        return null;
    }
}
