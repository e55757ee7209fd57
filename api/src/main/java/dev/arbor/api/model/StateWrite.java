package dev.arbor.api.model;

import dev.arbor.api.ArborException;

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

        /**
         * The slots, checked for a forward of {@code newTokens} tokens on a state of {@code stateLength} slots: one
         * per new token, each an existing slot, none written twice.
         *
         * @throws ArborException INVALID_INPUT naming the offending slot
         */
        public int[] checkedSlots(int newTokens, int stateLength) {
            if (slots == null || slots.length != newTokens) {
                throw ArborException.invalid("StateWrite.At needs one slot per new token (" + newTokens + "), got "
                        + (slots == null ? "null" : slots.length));
            }
            boolean[] seen = new boolean[stateLength];
            for (int s : slots) {
                if (s < 0 || s >= stateLength) {
                    throw ArborException.invalid("StateWrite.At slot " + s + " is outside the state's " + stateLength
                            + " slots; append first or use StateWrite.APPEND");
                }
                if (seen[s]) {
                    throw ArborException.invalid("StateWrite.At writes slot " + s + " twice");
                }
                seen[s] = true;
            }
            return slots;
        }
    }

    StateWrite NONE = new None();
    StateWrite APPEND = new Append();
}
