package dev.arbor.api;

/**
 * Capability flags a plugin declares about itself. Pipelines check them at configuration time and refuse
 * combinations that cannot work, naming both parts.
 */
public enum Trait {
    /** Never changes which token has the highest logit (temperature, top-k, top-p): greedy output is unaffected. */
    ARGMAX_INVARIANT,
    /** Reads the token history (penalties, watermarks): must be applied per position with that position's history. */
    HISTORY_DEPENDENT,
    /** Consumes randomness from the request's RNG. */
    USES_RANDOMNESS,
    /** Safe to apply identically to a draft and a target distribution inside speculative decoding. */
    SPECULATIVE_SAFE,
    /** Works on batches of several independent rows. */
    BATCH_SAFE,
    /** Needs a model with bidirectional attention (masked-diffusion decoding). */
    NEEDS_BIDIRECTIONAL,
    /** Needs a backend whose state supports {@code truncate} (speculative rollback). */
    NEEDS_STATE_TRUNCATE,
    /** Needs a backend whose state supports {@code fork} (guidance twins, branches). */
    NEEDS_STATE_FORK,
    /** Needs a backend whose state supports {@code compact} (keeping an accepted tree path). */
    NEEDS_STATE_COMPACT,
    /** Needs explicit per-query attention masks (tree attention). */
    NEEDS_EXPLICIT_MASK,
    /**
     * Embeds the operator's watermark: a pipeline keeps such a processor fixed, so a request can neither remove,
     * move nor re-option it (a third-party watermark declares this trait to get the same protection).
     */
    WATERMARK,
    /**
     * Allows only continuations in a formal language (grammars, regular expressions, JSON schemas): its state is the
     * history read left to right, so it runs only under generators that declare {@code commitsInOrder()}; the
     * platform refuses other pairings, naming both parts. Since 1.2.
     */
    CONSTRAINS_OUTPUT
}
