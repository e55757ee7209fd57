package dev.arbor.generation.stree;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.ModelCard;
import dev.arbor.sampling.SamplingMath;

/** Checks shared by the classes of this bundle (the same rules as the autoregressive generator's). */
final class Decoding {
    private Decoding() {
    }

    /** Refuses empty prompts, prompts that leave no room in the context and ids outside the vocabulary. */
    static void validatePrompt(int[] prompt, ModelCard card) {
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

    /** A copy of one logit row, refusing a row of the wrong width (a backend bug). */
    static float[] checkedCopy(float[] logits, ModelCard card) {
        if (logits == null || logits.length != card.vocabSize()) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                    + (logits == null ? "no logits" : logits.length + " logits") + " for a row, but its card says "
                    + card.vocabSize());
        }
        return logits.clone();
    }

    /** softmax of a processed row in double; a row the chain emptied (all -inf) or broke (NaN) is named. */
    static double[] softmax(float[] processed, String model, int node) {
        try {
            return SamplingMath.softmax(processed);
        } catch (IllegalArgumentException e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "speculative-tree: the processor chain "
                    + "left no valid distribution for the " + model + " at tree node " + node + ": "
                    + e.getMessage());
        }
    }
}
