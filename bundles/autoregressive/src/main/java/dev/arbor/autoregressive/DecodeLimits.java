package dev.arbor.autoregressive;

import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationContext;

/**
 * How many tokens one autoregressive request may generate, decided in one place for every loop of the family.
 *
 * <p>The platform maps the request's (or the pipeline's default) {@code max_tokens} to
 * {@link GenerationContext#maxNewTokens()}, already checked against the server's limit. A strategy option
 * {@value #MAX_NEW_TOKENS} can only lower it, and prompt + generated never exceeds the model's context
 * ({@code maxPositions}). Greedy decoding at temperature 0 is decided by
 * {@link dev.arbor.api.sampling.SamplingOptions#greedy} for the platform (which then drops argmax-invariant
 * processors) and the {@code sample} selector (which then takes the argmax); a loop draws through the chain and
 * reads what it drew from in {@code Selection.distribution()} (one-hot under greedy).
 */
public final class DecodeLimits {
    /** Option: caps the new tokens below {@link GenerationContext#maxNewTokens()} (never raises it). */
    public static final String MAX_NEW_TOKENS = "max_new_tokens";
    /** Option: false selects a loop's cache-free reference path (a stateless full forward per step). */
    public static final String USE_CACHE = "use_cache";

    private DecodeLimits() {
    }

    /** Option {@value #MAX_NEW_TOKENS}, validated (0 or more); {@code Integer.MAX_VALUE} when absent. */
    public static int cap(Options options) {
        return options.integer(MAX_NEW_TOKENS, Integer.MAX_VALUE, 0, Integer.MAX_VALUE);
    }

    /** Option {@value #USE_CACHE}, true when absent. */
    public static boolean useCache(Options options) {
        return options.bool(USE_CACHE, true);
    }

    /** The most new tokens: the request's limit, option {@value #MAX_NEW_TOKENS} and the context left. */
    public static int budget(GenerationContext context, int promptLength) {
        return budget(context, promptLength, cap(context.options()));
    }

    /** As {@link #budget(GenerationContext, int)} with the option already read as {@code cap}. */
    public static int budget(GenerationContext context, int promptLength, int cap) {
        return Math.min(Math.min(context.maxNewTokens(), cap), context.model().card().maxPositions() - promptLength);
    }
}
