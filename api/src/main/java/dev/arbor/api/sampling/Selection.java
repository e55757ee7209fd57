package dev.arbor.api.sampling;

/**
 * A chosen token and what speculative and diffusion methods need to know about the choice.
 *
 * @param token          the chosen id
 * @param distribution   the probabilities the token was drawn from, after all processing (one-hot for argmax);
 *                       may be shared with the selector: callers copy it before changing it
 * @param logProbability log of the softmax of the processed logits at {@code token} (what users see as logprob)
 * @param confidence     the selector's confidence in the token (probability of the token under the processed
 *                       logits by default; diffusion decoders use it to order unmasking)
 * @param alternatives   the most likely tokens of the processed logits the selector saw, when the request asked for
 *                       them ({@code top_logprobs}); null otherwise. The platform fills it in around the pipeline's
 *                       selector; generators pass a selection on unchanged so that it reaches the client. Since 1.2.
 */
public record Selection(int token, float[] distribution, double logProbability, double confidence,
                        TopTokens alternatives) {

    /** A selection without alternatives (what selectors return). */
    public Selection(int token, float[] distribution, double logProbability, double confidence) {
        this(token, distribution, logProbability, confidence, null);
    }

    /** This selection carrying {@code top} as its alternatives. Since 1.2. */
    public Selection withAlternatives(TopTokens top) {
        return new Selection(token, distribution, logProbability, confidence, top);
    }
}
