package dev.arbor.diffusion;

import dev.arbor.api.ArborException;

/** How many positions of a block to decode at each step. */
@FunctionalInterface
public interface UnmaskSchedule {

    /**
     * Per-step counts for a block with {@code masked} MASK tokens decoded in {@code steps} steps; the counts are
     * non-negative and sum to {@code masked}.
     */
    int[] counts(int masked, int steps);

    /**
     * LLaDA's {@code get_num_transfer_tokens} (METHODS.md §2.3): {@code masked div steps} per step, the first
     * {@code masked mod steps} steps one more, so the tokens spread as evenly as possible.
     */
    UnmaskSchedule UNIFORM = (masked, steps) -> {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        }
        int[] counts = new int[steps];
        int base = masked / steps;
        int extra = masked % steps;
        for (int s = 0; s < steps; s++) {
            counts[s] = base + (s < extra ? 1 : 0);
        }
        return counts;
    };

    /** The schedule named {@code uniform} (option {@code schedule}); other bundles add their own. */
    static UnmaskSchedule named(String name) {
        if (name.equals("uniform")) {
            return UNIFORM;
        }
        throw ArborException.invalid("option 'schedule' must be uniform, got '" + name + "'");
    }
}
