package dev.arbor.speculative;

import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import java.util.Objects;

/**
 * What a {@link Drafter} is asked for at one step.
 *
 * @param history    prompt + committed tokens, with the request's seeded RNG; the drafter may append drafted tokens
 * @param sampler    the request's processor chain and selector (the same instance the loop applies to the target)
 * @param maxTokens  the most tokens to propose (at least 1)
 * @param stopTokens ids that end the row: drafting past one is wasted work, so drafters stop after proposing one
 */
public record DraftRequest(SamplingContext history, Sampler sampler, int maxTokens, int[] stopTokens) {

    public DraftRequest {
        Objects.requireNonNull(history, "history");
        Objects.requireNonNull(sampler, "sampler");
        if (maxTokens < 1) {
            throw new IllegalArgumentException("maxTokens must be at least 1, got " + maxTokens);
        }
        stopTokens = stopTokens == null ? new int[0] : stopTokens;
    }

    /** True when {@code token} ends the row. */
    public boolean isStopToken(int token) {
        for (int s : stopTokens) {
            if (s == token) {
                return true;
            }
        }
        return false;
    }
}
