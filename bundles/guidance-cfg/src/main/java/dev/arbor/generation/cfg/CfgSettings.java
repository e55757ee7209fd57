package dev.arbor.generation.cfg;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ModelCard;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import dev.arbor.guidance.UnconditionalContext;
import java.util.Arrays;
import java.util.Locale;

/**
 * The options of the {@code cfg} generator, read and validated before any forward runs; every refusal names the
 * option (or the capability) and what would be accepted.
 *
 * @param guidance    {@code guidance_scale}, {@code cfg_convention} and {@code cfg_ramp}
 * @param interval    {@code cfg_interval} (-1 = every token)
 * @param mode        the resolved mode ({@link Mode#FORK} or {@link Mode#BATCH}); null when nothing is guided
 * @param uncond      the unconditional (or negative) context; null when nothing is guided
 * @param uncondSource where {@code uncond} came from, for stats and messages
 */
record CfgSettings(Guidance guidance, int interval, Mode mode, int[] uncond, String uncondSource) {
    /**
     * Option: the guidance scale, in the convention's parameter: LlamaGen's s of {@code uncond + s·(cond − uncond)}
     * by default, VAR's t of {@code (1+t)·cond − t·uncond} or LLaDA's cfg of {@code uncond + (cfg+1)·(cond − uncond)}.
     */
    static final String GUIDANCE_SCALE = "guidance_scale";
    /** Option: {@code llamagen} (default), {@code var} or {@code llada}; see {@link CfgConvention}. */
    static final String CFG_CONVENTION = "cfg_convention";
    /** Option: {@code constant} (default), {@code linear} or {@code cosine}, over the request's token budget. */
    static final String CFG_RAMP = "cfg_ramp";
    /** Option: LlamaGen's {@code cfg_interval}: -1 guides every token, i &gt;= 0 guides tokens 0..i+1 only. */
    static final String CFG_INTERVAL = "cfg_interval";
    /** Option: text of the unconditional (negative) context, encoded with the pipeline's tokenizer. */
    static final String NEGATIVE_PROMPT = UnconditionalContext.NEGATIVE_PROMPT;
    /** Option: ids of the unconditional (negative) context, used as they are. */
    static final String NEGATIVE_PROMPT_IDS = UnconditionalContext.NEGATIVE_PROMPT_IDS;
    /** Option: {@code auto}, {@code fork} or {@code batch}. */
    static final String MODE = "mode";

    /** The default scale: VAR's evaluation default and a moderate value for text (LlamaGen's images use 2-7.5). */
    static final double DEFAULT_SCALE = 1.5;
    /** The largest scale accepted; far beyond any published setting, it only guards against typos. */
    static final double MAX_SCALE = 100.0;

    /** How the two rows are computed. */
    enum Mode {
        /**
         * Two single-row states: the shared prefix of both contexts (at least BOS when both start with it) is
         * prefilled once and the state is {@link dev.arbor.api.model.DecodeState#fork() forked}; without a shared
         * prefix the unconditional row gets a state of its own. Two forwards per guided token. Needs STATE_FORK.
         */
        FORK,
        /**
         * One state of two rows (conditional, unconditional), left-padded to one length when the contexts differ in
         * length; one batch-2 forward per guided token. Needs BATCH, and PADDING when the lengths differ.
         */
        BATCH;

        String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** The guidance parameter at full strength, in the convention's form ({@code guidance_scale}). */
    double scale() {
        return guidance.scale();
    }

    /**
     * True when generated token {@code k} of a budget of {@code steps} is combined: its row is live
     * ({@link #guidesToken}) and the ramp's parameter at {@code k} is not inert.
     */
    boolean combinesToken(int k, int steps) {
        return guidesToken(k) && guidance.guides(k, steps);
    }

    /** True when at least one token is guided (scale not inert); otherwise the generator is plain decoding. */
    boolean guides() {
        return mode != null;
    }

    /**
     * Whether generated token {@code k} (0-based) has its unconditional row: LlamaGen's prefill token plus steps
     * i &lt;= interval. A ramp may still leave such a token's parameter inert ({@link #combinesToken}); its row is
     * computed anyway, as later tokens need the row's cache.
     */
    boolean guidesToken(int k) {
        return guides() && (interval < 0 || k <= interval + 1);
    }

    static CfgSettings read(GenerationContext context, int[] prompt) {
        Options options = context.options();
        ModelCard card = context.model().card();
        Guidance guidance = Guidance.read(options, CfgConvention.LLAMAGEN, DEFAULT_SCALE, CfgRamp.CONSTANT);
        int interval = options.integer(CFG_INTERVAL, -1, -1, Integer.MAX_VALUE);
        String modeName = options.string(MODE, "auto").trim().toLowerCase(Locale.ROOT);
        if (!modeName.equals("auto") && !modeName.equals("fork") && !modeName.equals("batch")) {
            throw ArborException.invalid("option '" + MODE + "' must be auto, fork or batch, got '"
                    + options.string(MODE, "") + "'");
        }
        UnconditionalContext.checkOptions(options);
        if (guidance.inert()) {
            // s = 1 (t = 0, cfg = 0) is exactly unguided (LlamaGen runs no unconditional row then either):
            // validate, compute nothing.
            return new CfgSettings(guidance, interval, null, null, "none (guidance_scale "
                    + (int) guidance.convention().inert() + ")");
        }
        UnconditionalContext unconditional = UnconditionalContext.read(context, -1);
        int[] uncond = unconditional.ids();
        String source = unconditional.source();
        return new CfgSettings(guidance, interval, resolveMode(modeName, card, prompt, uncond), uncond, source);
    }

    /**
     * {@code auto} takes the cheaper mode the backend supports: batch (measured cheaper on stories260K, see
     * BENCHMARKS.md) when it lists BATCH (and PADDING if the contexts differ in length), else fork when it lists
     * STATE_FORK. An explicit mode the backend cannot serve is refused naming the capability.
     */
    private static Mode resolveMode(String name, ModelCard card, int[] prompt, int[] uncond) {
        boolean batchOk = card.supports(Capability.BATCH)
                && (prompt.length == uncond.length || card.supports(Capability.PADDING));
        boolean forkOk = card.supports(Capability.STATE_FORK);
        switch (name) {
            case "fork":
                if (!forkOk) {
                    throw new ArborException(ArborException.Kind.INCOMPATIBLE, "cfg mode 'fork' runs the "
                            + "unconditional row on a forked state, but " + card.name() + " does not list "
                            + "Capability.STATE_FORK" + (batchOk ? "; use mode 'batch' (or 'auto')" : ""));
                }
                return Mode.FORK;
            case "batch":
                if (!batchOk) {
                    throw new ArborException(ArborException.Kind.INCOMPATIBLE, "cfg mode 'batch' runs both rows "
                            + "in one forward, but " + card.name() + " does not list " + (card.supports(
                            Capability.BATCH) ? "Capability.PADDING, needed because the prompt (" + prompt.length
                            + " tokens) and the unconditional context (" + uncond.length + " tokens) differ in "
                            + "length" : "Capability.BATCH") + (forkOk ? "; use mode 'fork' (or 'auto')" : ""));
                }
                return Mode.BATCH;
            default:
                if (batchOk) {
                    return Mode.BATCH;
                }
                if (forkOk) {
                    return Mode.FORK;
                }
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "classifier-free guidance needs a "
                        + "second row next to the prompt's: " + card.name() + " lists neither Capability.STATE_FORK "
                        + "(mode 'fork') nor Capability.BATCH" + (card.supports(Capability.BATCH)
                        ? " with Capability.PADDING (the prompt and the unconditional context differ in length)" : "")
                        + " (mode 'batch'); use another backend, or guidance_scale 1 (no guidance; 0 with cfg_convention var or "
                        + "llada)");
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CfgSettings s && s.guidance.equals(guidance) && s.interval == interval && s.mode == mode
                && Arrays.equals(s.uncond, uncond);
    }

    @Override
    public int hashCode() {
        return guidance.hashCode() * 31 + Arrays.hashCode(uncond);
    }

    @Override
    public String toString() {
        return "CfgSettings[" + guidance + ", interval=" + interval + ", mode=" + mode + ", uncond="
                + Arrays.toString(uncond) + " from " + uncondSource + "]";
    }
}
