package dev.arbor.speculative;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * Proposes tokens for {@link SpeculativeDecoding} to verify: a small draft model, the target's first layers, an
 * n-gram lookup in the prompt. One instance serves one request, on the request's thread.
 *
 * <p>Contract, which exactness depends on:
 * <ul>
 *   <li>Each proposed token is drawn from the distribution returned with it ({@link Draft#distributions()}), given
 *       the history and the earlier proposed tokens, using only {@link DraftRequest#history()}'s RNG for
 *       randomness. A deterministic drafter (a function of the history) returns no distributions: its q is
 *       one-hot at the proposed token.</li>
 *   <li>A drafter that samples builds q with the request's chain: {@link DraftRequest#sampler()}'s processors on
 *       its logits, with the history holding exactly the tokens before the drafted position (append each drafted
 *       token to {@link DraftRequest#history()} before drafting the next), then the chain's selector, whose
 *       {@code Selection.distribution()} is q. The loop applies the same chain to the target rows, so acceptance
 *       compares the processed distributions.</li>
 *   <li>The drafter may append to the history while drafting; the loop truncates it back to the committed tokens
 *       afterwards. Between calls the committed history may have lost tokens the drafter saw (a rejection): a
 *       drafter with state (a KV cache) compares what it holds with the history it is given and rolls back.</li>
 * </ul>
 */
@ConsumerType
public interface Drafter extends AutoCloseable {

    /** Up to {@code request.maxTokens()} tokens to follow {@code request.history()}; an empty draft is allowed. */
    Draft propose(DraftRequest request);

    /** Forward passes this drafter ran so far (0 for drafters without a model), for the stats. */
    default int forwardPasses() {
        return 0;
    }

    /** A short description for the stats ({@code "model stories260K.bin (3 layers)"}, {@code "prompt lookup"}). */
    String describe();

    /** Frees the drafter's state (not the models it was given). */
    @Override
    default void close() {
    }
}
