package dev.arbor.diffusion;

import dev.arbor.api.sampling.Selection;

/**
 * What the model proposes for one masked position at one step: the token drawn by the pipeline's sampler and the
 * confidence a {@link ConfidenceMetric} gives it; a {@link RemaskingPolicy} decides which proposals are committed.
 *
 * @param position    absolute canvas position
 * @param token       the drawn token (never MASK)
 * @param confidence  the metric's score; higher means decode earlier
 * @param probability the token's probability under the processed distribution
 * @param selection   the sampler's selection (streamed with the token when it is emitted)
 */
public record Proposal(int position, int token, double confidence, double probability, Selection selection) {
}
