package dev.arbor.autoregressive;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.Sampler;

/**
 * The checks every autoregressive loop runs: the prompt before any forward, and what backends and selectors hand
 * back during a step (a wrong width or id is a plugin bug that would otherwise surface as a wrong token).
 */
public final class DecodeChecks {
    private DecodeChecks() {
    }

    /**
     * Refuses prompts no forward could serve, before any forward runs: empty ones, ones that leave no room in the
     * context (prompt + generated stays within {@code maxPositions}, so a prompt of exactly the context length
     * leaves none), and ids outside the vocabulary.
     */
    public static void validatePrompt(int[] prompt, ModelCard card) {
        if (prompt.length == 0) {
            throw ArborException.invalid("the prompt is empty; a causal model needs at least one token to condition "
                    + "on (start the prompt with BOS" + (card.bosTokenId().isPresent()
                    ? ", id " + card.bosTokenId().getAsInt() : "") + ")");
        }
        if (prompt.length >= card.maxPositions()) {
            throw ArborException.invalid("prompt has " + prompt.length + " tokens but " + card.name()
                    + "'s context is " + card.maxPositions() + "; shorten the prompt to at most "
                    + (card.maxPositions() - 1) + " tokens to leave room for generation");
        }
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] < 0 || prompt[i] >= card.vocabSize()) {
                throw ArborException.invalid("prompt token " + i + " has id " + prompt[i] + ", outside "
                        + card.name() + "'s vocabulary [0, " + card.vocabSize() + ")");
            }
        }
    }

    /** A fresh chain from the context's supplier; a null one is a platform bug, named as such. */
    public static Sampler sampler(GenerationContext context) {
        Sampler sampler = context.samplers().get();
        if (sampler == null) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE,
                    "the pipeline's sampler supplier returned null");
        }
        return sampler;
    }

    /** A copy of one logit row, refusing a row of the wrong width (a backend bug). */
    public static float[] checkedCopy(float[] logits, ModelCard card) {
        if (logits == null || logits.length != card.vocabSize()) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                    + (logits == null ? "no logits" : logits.length + " logits") + " for a row, but its card says "
                    + card.vocabSize());
        }
        // A copy: processors work in place, and a backend may hand out a buffer it reuses.
        return logits.clone();
    }

    /** Refuses a selected id outside the vocabulary (a selector bug). */
    public static void checkToken(int token, ModelCard card) {
        if (token < 0 || token >= card.vocabSize()) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector chose id " + token
                    + ", outside " + card.name() + "'s vocabulary [0, " + card.vocabSize() + ")");
        }
    }
}
