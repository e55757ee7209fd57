package dev.arbor.generation.rcr;

import dev.arbor.diffusion.UnmaskSchedule;

/**
 * MaskGIT-style unmasking schedules as MDPO uses them (He et al. 2025, "MDPO: Overcoming the Training-Inference
 * Divide of Masked Diffusion Language Models", arXiv:2508.13148; {@code autonomousvision/mdpo src/llada/generate.py
 * gamma_func, get_num_transfer_tokens_maskgit}; METHODS.md §2.3): after step {@code t} of {@code S},
 * {@code D(t) = m - floor(m * gamma((t+1)/S))} of the block's {@code m} tokens are decoded, where {@code gamma} is the
 * fraction still masked at time {@code r}; a step's count is {@code D(t) - D(t-1)}. Since {@code gamma(1) = 0} the
 * last step ends with nothing masked.
 */
public enum MaskGitSchedule implements UnmaskSchedule {
    /** {@code gamma(r) = 1 - r}, computed exactly in integers: {@code floor(m (S-t-1) / S)} still masked. */
    LINEAR {
        @Override
        long stillMasked(int masked, int t, int steps) {
            return (long) masked * (steps - t - 1) / steps;
        }
    },
    /** {@code gamma(r) = cos(r pi / 2)}: slow at first, fast at the end. */
    COSINE {
        @Override
        long stillMasked(int masked, int t, int steps) {
            return t + 1 >= steps ? 0 : (long) Math.floor(masked * Math.cos(Math.PI / 2 * (t + 1) / steps));
        }
    };

    /** {@code floor(m * gamma((t+1)/S))}: tokens still masked after step {@code t}. */
    abstract long stillMasked(int masked, int t, int steps);

    @Override
    public int[] counts(int masked, int steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        }
        int[] counts = new int[steps];
        long decodedBefore = 0;
        for (int t = 0; t < steps; t++) {
            long decoded = masked - stillMasked(masked, t, steps);
            counts[t] = (int) (decoded - decodedBefore);
            decodedBefore = decoded;
        }
        return counts;
    }
}
