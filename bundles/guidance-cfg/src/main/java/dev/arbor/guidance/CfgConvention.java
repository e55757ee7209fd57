package dev.arbor.guidance;

/**
 * How a guidance scale is written (METHODS.md §3.2). Every convention is {@code uncond + w·(cond − uncond)} for a
 * weight {@code w} of its parameter; each has an inert value that reproduces unguided sampling bit for bit.
 */
public enum CfgConvention {
    /** LlamaGen, Lumina-mGPT, SJD/GSD: {@code uncond + s·(cond − uncond)}; inert at {@code s = 1}. */
    LLAMAGEN(1.0),
    /** VAR: {@code (1+t)·cond − t·uncond}; inert at {@code t = 0}. */
    VAR(0.0),
    /** LLaDA-style masked diffusion: {@code uncond + (cfg+1)·(cond − uncond)}; inert at {@code cfg = 0}. */
    LLADA(0.0);

    private final double inert;

    CfgConvention(double inert) {
        this.inert = inert;
    }

    /** The parameter value that means "no guidance". */
    public double inert() {
        return inert;
    }

    /** The weight {@code w} of {@code uncond + w·(cond − uncond)} for this convention's parameter. */
    public double weight(double parameter) {
        return this == LLAMAGEN ? parameter : parameter + 1.0;
    }

    /** Parses {@code llamagen}, {@code var} or {@code llada} (case ignored); null for anything else. */
    public static CfgConvention parse(String name) {
        for (CfgConvention c : values()) {
            if (c.name().equalsIgnoreCase(name == null ? "" : name.strip())) {
                return c;
            }
        }
        return null;
    }
}
