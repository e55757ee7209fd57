package dev.arbor.generation.autoregressive;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.Sampler;

/** Checks and arithmetic shared by the generators of this bundle. */
final class Decoding {
    /** Option: false selects the cache-free reference path (a stateless full forward per step). */
    static final String USE_CACHE = "use_cache";
    /** Option: caps the new tokens below {@link GenerationContext#maxNewTokens()} (never raises it). */
    static final String MAX_NEW_TOKENS = "max_new_tokens";

    private Decoding() {
    }

    /**
     * Refuses prompts no forward could serve, before any forward runs: empty ones, ones that leave no room in the
     * context (we keep prompt + generated within {@code maxPositions}, so a prompt of exactly the context length
     * leaves none), and ids outside the vocabulary.
     */
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

    /** The most new tokens this request may generate: the request's limit, the option, and the context. */
    static int budget(GenerationContext context, int promptLength) {
        Options options = context.options();
        int cap = options.integer(MAX_NEW_TOKENS, Integer.MAX_VALUE, 0, Integer.MAX_VALUE);
        return Math.min(Math.min(context.maxNewTokens(), cap), context.model().card().maxPositions() - promptLength);
    }

    /** A fresh chain from the context's supplier; a null one is a platform bug, named as such. */
    static Sampler chain(GenerationContext context) {
        Sampler sampler = context.samplers().get();
        if (sampler == null) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE,
                    "the pipeline's sampler supplier returned null");
        }
        return sampler;
    }

    /** Refuses a logit row of the wrong width (a backend bug that would otherwise surface as a wrong token). */
    static float[] checkedCopy(float[] logits, ModelCard card) {
        if (logits == null || logits.length != card.vocabSize()) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                    + (logits == null ? "no logits" : logits.length + " logits") + " for a row, but its card says "
                    + card.vocabSize());
        }
        // A copy: processors work in place, and a backend may hand out a buffer it reuses.
        return logits.clone();
    }

    /** Refuses a selected id outside the vocabulary (a selector bug). */
    static void checkToken(int token, ModelCard card) {
        if (token < 0 || token >= card.vocabSize()) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector chose id " + token
                    + ", outside " + card.name() + "'s vocabulary [0, " + card.vocabSize() + ")");
        }
    }

    /**
     * {@code log softmax(logits)} in double (as HF upcasts to float32 before it; double costs nothing here). A row
     * whose every entry is {@code -inf} (a chain that removed every token) stays all {@code -inf} instead of NaN.
     */
    static double[] logSoftmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double[] out = new double[logits.length];
        if (max == Double.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(out, Double.NEGATIVE_INFINITY);
            return out;
        }
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        double logZ = max + Math.log(sum);
        for (int i = 0; i < logits.length; i++) {
            out[i] = logits[i] - logZ;
        }
        return out;
    }
}
