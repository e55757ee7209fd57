package dev.arbor.generation.tidar;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.ModelCard;
import dev.arbor.autoregressive.DecodeLimits;

/**
 * The options of the {@code tidar} generator, validated.
 *
 * @param draftLength  {@value #DRAFT_LENGTH}: drafts per step k, also the MASKs per pre-draft block (1..16)
 * @param maskToken    the MASK id: option {@value #MASK_TOKEN_ID}, else the model card's
 * @param maxNewTokens {@value DecodeLimits#MAX_NEW_TOKENS}: caps the request's limit
 */
record TiDarOptions(int draftLength, int maskToken, int maxNewTokens) {
    static final String DRAFT_LENGTH = "draft_length";
    static final String MASK_TOKEN_ID = "mask_token_id";
    static final int DEFAULT_DRAFT_LENGTH = 4;
    /**
     * The most drafts per step: a forward carries k + 1 + (k + 1) k tokens, so 16 already means 289 new tokens per
     * step, far past the point where a one-forward step stays memory-bound.
     */
    static final int MAX_DRAFT_LENGTH = 16;

    static TiDarOptions parse(Options options, ModelCard card) {
        int k = options.integer(DRAFT_LENGTH, DEFAULT_DRAFT_LENGTH, 1, MAX_DRAFT_LENGTH);
        int mask;
        if (options.has(MASK_TOKEN_ID)) {
            mask = options.integer(MASK_TOKEN_ID, 0, 0, card.vocabSize() - 1);
        } else if (card.maskTokenId().isPresent()) {
            mask = card.maskTokenId().getAsInt();
        } else {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "tidar drafts from MASK blocks, but the model "
                    + "card of " + card.name() + " declares no MASK id; use a model trained for TiDAR (its card names "
                    + "the mask, e.g. models/trained/arbor-tiny-tidar) or set option '" + MASK_TOKEN_ID + "' to the id "
                    + "the model was trained with");
        }
        if (mask < 0 || mask >= card.vocabSize()) {
            throw ArborException.invalid("the MASK id " + mask + " of " + card.name() + " is outside its vocabulary "
                    + "[0, " + card.vocabSize() + "); set option '" + MASK_TOKEN_ID + "' to the id the model was "
                    + "trained with");
        }
        return new TiDarOptions(k, mask, DecodeLimits.cap(options));
    }
}
