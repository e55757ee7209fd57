package dev.arbor.generation.eoserass;

import dev.arbor.diffusion.UnmaskSchedule;

/**
 * The ascending step-size (ASS) schedule of Yang et al. 2025, "Taming Masked Diffusion Language Models via
 * Consistency Trajectory Reinforcement Learning with Fewer Decoding Step" (arXiv:2509.23924;
 * {@code yjyddq/EOSER-ASS-RL eval/generate.py get_num_transfer_tokens_ass}; METHODS.md §3.6): step {@code s} of
 * {@code S} decodes {@code 2^s} tokens for {@code s < S-1} and the last step the remainder
 * {@code m - (2^(S-1) - 1)}, so {@code m = 2^S} tokens take {@code S = log2 m} forwards instead of {@code m}
 * (256 tokens in 8 steps: 1, 2, 4, ..., 64, then 129). Few tokens are decoded while the canvas is mostly MASK
 * (when parallel decoding is least reliable) and many once the context is rich.
 */
public final class AscendingStepSize implements UnmaskSchedule {
    public static final AscendingStepSize INSTANCE = new AscendingStepSize();

    private AscendingStepSize() {
    }

    /**
     * The counts for {@code masked} tokens in {@code steps} steps. When {@code 2^(steps-1) > masked} the doubling
     * cannot reach the last step with a token left, so the schedule uses only {@link #maxSteps}{@code (masked)}
     * steps (the rest get 0, which the loop skips without a forward); generators refuse such a {@code steps}
     * up front, this only keeps a short block (a block-causal model's first block) well defined.
     */
    @Override
    public int[] counts(int masked, int steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        }
        if (masked < 0) {
            throw new IllegalArgumentException("masked must not be negative, got " + masked);
        }
        int[] counts = new int[steps];
        int used = Math.min(steps, maxSteps(masked));
        int decoded = 0;
        for (int s = 0; s < used - 1; s++) {
            counts[s] = 1 << s;
            decoded += counts[s];
        }
        counts[used - 1] = masked - decoded;
        return counts;
    }

    /** {@code ceil(log2 m)} (at least 1): the schedule's natural step count, {@code S} for {@code m = 2^S}. */
    public static int defaultSteps(int masked) {
        int s = 1;
        while (s < 31 && (1L << s) < masked) {
            s++;
        }
        return s;
    }

    /** The most steps that leave the last step at least one token: {@code floor(log2 m) + 1} (1 for m <= 1). */
    public static int maxSteps(int masked) {
        return masked <= 1 ? 1 : 32 - Integer.numberOfLeadingZeros(masked);
    }
}
