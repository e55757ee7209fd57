package dev.arbor.generation.cfg;

import dev.arbor.guidance.Guidance;

/**
 * The classifier-free guidance combination of one conditional and one unconditional logit row (Ho &amp; Salimans,
 * "Classifier-Free Diffusion Guidance", 2022, eq. 6, written for autoregressive logits as in LlamaGen,
 * {@code github.com/FoundationVision/LlamaGen : autoregressive/models/generate.py}, {@code decode_one_token}):
 *
 * <pre>combined = uncond + s * (cond - uncond)</pre>
 *
 * so that {@code softmax(combined) ∝ p(x|c)^s · p(x)^(1-s)} (logits are log-probabilities up to a per-row constant,
 * which softmax ignores). {@code s = 1} is no guidance, {@code s = 0} is the unconditional model, {@code s > 1}
 * sharpens towards the condition (LlamaGen's convention; VAR writes the same thing as {@code (1+t)·cond − t·uncond}
 * with {@code t = s − 1}).
 *
 * <p>The arithmetic is {@link Guidance#combineWeighted}, shared with the image generators.
 *
 * <p><b>Arithmetic.</b> Each entry is computed in double as the algebraically identical
 * {@code cond + (s − 1)·(cond − uncond)} and rounded once to float. This form makes the two identities the method
 * promises exact in floating point, not just up to rounding: {@code s = 1} returns {@code cond} bit for bit, and
 * {@code cond == uncond} returns {@code cond} bit for bit for every {@code s}.
 *
 * <p><b>Removed tokens.</b> A {@code -inf} entry (probability 0) in either row cannot go through the formula
 * ({@code -inf + s·(+inf)} is NaN, which is what LlamaGen's tensor code would produce). Our choice, matching the
 * probability form: the entry is {@code cond} when {@code s = 1}, {@code uncond} when {@code s = 0}, and
 * {@code -inf} otherwise — for {@code 0 < s < 1} that is exactly {@code p(x|c)^s·p(x)^(1−s) = 0}; for {@code s > 1}
 * with {@code p(x) = 0} the product is undefined ({@code 0^(1−s)}) and we keep a token that the unconditional model
 * rules out ruled out. NaN and {@code +inf} are backend bugs and are refused.
 */
final class CfgCombiner {
    private CfgCombiner() {
    }

    /** The guided row for scale {@code s}; neither input is modified. {@code model} names the backend in errors. */
    static float[] combine(float[] cond, float[] uncond, double s, String model) {
        return Guidance.combineWeighted(cond, uncond, s, model);
    }
}
