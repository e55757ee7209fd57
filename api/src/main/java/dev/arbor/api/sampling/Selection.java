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
 */
public record Selection(int token, float[] distribution, double logProbability, double confidence) {
}
