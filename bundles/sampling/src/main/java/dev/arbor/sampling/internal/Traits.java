package dev.arbor.sampling.internal;

import dev.arbor.api.Trait;
import java.util.Set;

/** The trait sets the parts of this bundle declare; every processor here is stateless between calls. */
final class Traits {
    /**
     * Pure functions of one row that never lower the top logit below another (temperature, top-k, top-p,
     * min-p): safe on any row of a batch and identically on draft and target rows.
     */
    static final Set<Trait> ARGMAX_INVARIANT_FILTER =
            Set.of(Trait.ARGMAX_INVARIANT, Trait.SPECULATIVE_SAFE, Trait.BATCH_SAFE);
    /** Pure functions of one row that may change the argmax (typical, logit bias). */
    static final Set<Trait> ROW_FUNCTION = Set.of(Trait.SPECULATIVE_SAFE, Trait.BATCH_SAFE);
    /**
     * Functions of the row and its history (penalties): safe in speculative decoding and batches only when the
     * generator hands each position its own history, which is what HISTORY_DEPENDENT asks of it.
     */
    static final Set<Trait> HISTORY = Set.of(Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE, Trait.BATCH_SAFE);

    private Traits() {
    }
}
