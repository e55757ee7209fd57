package dev.arbor.guidance;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.tokenizer.Tokenizer;
import java.util.OptionalInt;

/**
 * The context of a guided request's unconditional row, read the same way by every strategy that guides (the
 * {@code cfg} generator, Jacobi/GSD): option {@code negative_prompt_ids} (ids as they are) or
 * {@code negative_prompt} (text, encoded with the pipeline's tokenizer with special tokens); without either, an
 * image request's null class token (the class dropped in training, as LlamaGen does) and a text request's empty
 * prompt as the model sees it ({@code [BOS]}: the card's, else the tokenizer's, else the tokenizer's encoding of
 * {@code ""}). Refusals name the option and what to give instead.
 *
 * @param ids    the unconditional context (at least one token, within the model's context and vocabulary)
 * @param source where it came from: an option name, {@code null_class} or {@code bos}
 */
public record UnconditionalContext(int[] ids, String source) {
    /** Option: text of the unconditional (negative) context. */
    public static final String NEGATIVE_PROMPT = "negative_prompt";
    /** Option: ids of the unconditional context, used as they are. */
    public static final String NEGATIVE_PROMPT_IDS = "negative_prompt_ids";

    /** Refuses a request that gives both options; strategies call it even when guidance is inert. */
    public static void checkOptions(Options options) {
        if (options.has(NEGATIVE_PROMPT) && options.has(NEGATIVE_PROMPT_IDS)) {
            throw ArborException.invalid("give at most one of options '" + NEGATIVE_PROMPT + "' and '"
                    + NEGATIVE_PROMPT_IDS + "'");
        }
    }

    /**
     * The unconditional context of {@code context}'s request; {@code nullClassToken} is the image layout's null class
     * for an image request, or -1 for a text request.
     */
    public static UnconditionalContext read(GenerationContext context, int nullClassToken) {
        Options options = context.options();
        ModelCard card = context.model().card();
        checkOptions(options);
        int[] ids;
        String source;
        if (options.has(NEGATIVE_PROMPT_IDS)) {
            ids = options.integers(NEGATIVE_PROMPT_IDS);
            source = NEGATIVE_PROMPT_IDS;
        } else if (nullClassToken >= 0) {
            if (options.has(NEGATIVE_PROMPT)) {
                throw ArborException.invalid("option '" + NEGATIVE_PROMPT + "' is text, but this is an image request "
                        + "(its unconditional row is the null class token " + nullClassToken + "); give '"
                        + NEGATIVE_PROMPT_IDS + "' for another unconditional context");
            }
            ids = new int[] {nullClassToken};
            source = "null_class";
        } else if (options.has(NEGATIVE_PROMPT)) {
            Tokenizer tokenizer = context.tokenizer();
            if (tokenizer == null) {
                throw ArborException.invalid("option '" + NEGATIVE_PROMPT + "' needs the pipeline's tokenizer, and "
                        + "this request has none; give '" + NEGATIVE_PROMPT_IDS + "' instead");
            }
            ids = tokenizer.encode(options.string(NEGATIVE_PROMPT, ""), true);
            source = NEGATIVE_PROMPT;
        } else {
            ids = emptyPrompt(card, context.tokenizer());
            source = "bos";
        }
        validate(ids, card, source);
        return new UnconditionalContext(ids, source);
    }

    @Override
    public int[] ids() {
        return ids.clone();
    }

    private static int[] emptyPrompt(ModelCard card, Tokenizer tokenizer) {
        OptionalInt bos = card.bosTokenId().isPresent() ? card.bosTokenId()
                : tokenizer != null ? tokenizer.bosTokenId() : OptionalInt.empty();
        if (bos.isPresent()) {
            return new int[] {bos.getAsInt()};
        }
        int[] empty = tokenizer == null ? new int[0] : tokenizer.encode("", true);
        if (empty.length > 0) {
            return empty;
        }
        throw ArborException.invalid(card.name() + " has no BOS token, so the default unconditional context (the "
                + "empty prompt) has no token to predict from; give option '" + NEGATIVE_PROMPT + "' or '"
                + NEGATIVE_PROMPT_IDS + "' as the unconditional context, or guidance_scale 1 (no guidance)");
    }

    private static void validate(int[] ids, ModelCard card, String source) {
        if (ids.length == 0) {
            throw ArborException.invalid("the unconditional context from '" + source + "' is empty; a causal model "
                    + "needs at least one token (start it with BOS" + (card.bosTokenId().isPresent()
                    ? ", id " + card.bosTokenId().getAsInt() : "") + ")");
        }
        if (ids.length >= card.maxPositions()) {
            throw ArborException.invalid("the unconditional context from '" + source + "' has " + ids.length
                    + " tokens but " + card.name() + "'s context is " + card.maxPositions() + "; shorten it to at most "
                    + (card.maxPositions() - 1) + " tokens");
        }
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= card.vocabSize()) {
                throw ArborException.invalid("token " + i + " of the unconditional context from '" + source
                        + "' has id " + ids[i] + ", outside " + card.name() + "'s vocabulary [0, "
                        + card.vocabSize() + ")");
            }
        }
    }
}
