package dev.arbor.api.model;

/** How a forward pass writes the new tokens' keys and values into the state. */
public sealed interface StateWrite {

    /** Read the state but leave it unchanged (diffusion steps that recompute the canvas). */
    record None() implements StateWrite {
    }

    /** Append the new tokens after the current slots (autoregressive decoding). */
    record Append() implements StateWrite {
    }

    /**
     * Overwrite existing slots: new token j goes to {@code slots[j]} (block re-decoding, sub-block caches).
     * Needs {@link Capability#STATE_WRITE_AT}.
     */
    record At(int[] slots) implements StateWrite {
    }

    StateWrite NONE = new None();
    StateWrite APPEND = new Append();
}
