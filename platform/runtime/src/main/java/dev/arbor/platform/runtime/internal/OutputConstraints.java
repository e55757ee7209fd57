package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.Generator;
import java.util.List;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The platform's rule for processors that allow only continuations of a formal language (grammars, regular
 * expressions, JSON schemas: {@link Trait#CONSTRAINS_OUTPUT}): their state is the history read left to right, so they
 * run only under generators that commit tokens in order with the processors applied to each position's own history
 * ({@link Generator#commitsInOrder()}). A diffusion canvas or a strategy that keeps tokens the processed distribution
 * ruled out would return text outside the language while the client was promised it: such pairings are refused
 * before any compute, naming both parts.
 */
final class OutputConstraints {
    static final String MAX_TOKENS = "max_tokens";
    /** The strategy option that lowers a request's budget (the autoregressive family's DecodeLimits). */
    static final String MAX_NEW_TOKENS = "max_new_tokens";
    /** The structured-output processor's option naming the ids that end the output. */
    static final String END_TOKEN_IDS = "end_token_ids";

    private OutputConstraints() {
    }

    /**
     * Throws INCOMPATIBLE when {@code generator} cannot honour a processor with {@code processorTraits}.
     *
     * @param where       the pipeline, for the message ("pipeline 'x'")
     * @param inOrder     the generators the pipeline lets a request use that do commit in order (the fix offered),
     *                    asked only when refusing
     */
    static void check(String where, String generatorName, Generator generator, String processorName,
                      Set<Trait> processorTraits, Supplier<List<String>> inOrder) {
        if (!processorTraits.contains(Trait.CONSTRAINS_OUTPUT) || generator.commitsInOrder()) {
            return;
        }
        throw new ArborException(ArborException.Kind.INCOMPATIBLE, where + ": generator '" + generatorName
                + "' cannot be combined with logits processor '" + processorName + "': the processor allows only"
                + " continuations of a formal language (a JSON schema, a regular expression or a grammar), which holds"
                + " only when tokens are committed left to right with the processor applied to each position's own"
                + " history, and '" + generatorName + "' commits tokens out of order or keeps tokens the processed"
                + " distribution ruled out (Generator.commitsInOrder is false); "
                + fix(inOrder.get()));
    }

    private static String fix(List<String> inOrder) {
        return inOrder.isEmpty() ? "use a pipeline with a token-by-token generator (autoregressive, beam-search,"
                + " speculative)" : "use one of its generators that do: " + String.join(", ", inOrder);
    }

    /**
     * The most tokens a request can generate, as the generator will count them: {@code max_tokens}, lowered by a
     * strategy's {@code max_new_tokens} and by the room the model's context leaves after the prompt.
     */
    static int budget(Options generatorOptions, int maxTokens, int contextLeft) {
        int cap = generatorOptions.integer(MAX_NEW_TOKENS, Integer.MAX_VALUE, 0, Integer.MAX_VALUE);
        return Math.max(0, Math.min(Math.min(maxTokens, cap), contextLeft));
    }

    /**
     * A constraint's options with option {@code max_tokens} no larger than {@code budget}: the processor forces the
     * output to be complete within its {@code max_tokens} (budget forcing), so it must know the generator's real
     * budget, or the generator would cut the output off mid-structure at the limit.
     */
    static Options withBudget(Options options, int budget) {
        int own = options.integer(MAX_TOKENS, budget, 0, Integer.MAX_VALUE);
        return options.with(MAX_TOKENS, Math.min(own, budget));
    }

    /**
     * {@link #withBudget} plus option {@value #END_TOKEN_IDS}: the request's stop ids, which end the output where the
     * constraint accepts (the model's end id may differ from its tokenizer's; chat models end turns with their own).
     */
    static Options withBudget(Options options, int budget, int[] stopTokens) {
        return withBudget(options, budget).with(END_TOKEN_IDS, stopTokens.clone());
    }
}
