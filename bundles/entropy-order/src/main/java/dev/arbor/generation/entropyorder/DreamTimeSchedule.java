package dev.arbor.generation.entropyorder;

import dev.arbor.diffusion.UnmaskSchedule;

/**
 * Dream's time schedule (Ye et al. 2025, "Dream 7B: Diffusion Large Language Models", arXiv:2508.15487; its
 * {@code generation_utils.py _sample}, vendored in {@code NVlabs/Fast-dLLM dream/model/generation_utils.py} l.411,
 * 476-477; METHODS.md §2.3): times {@code t_i = linspace(1, eps, S+1)}; with {@code m} tokens still masked, step
 * {@code s < S-1} decodes {@code floor(m (1 - t_{s+1} / t_s))} and the last step all that remain. Since the decoder
 * commits exactly that many each step, the counts follow from the block's initial MASK count.
 *
 * <p>A property of the formula worth knowing (METHODS.md says "with S = L exactly one per step", which it is not
 * quite): with {@code S = L} the first step decodes {@code floor(L (1-eps)/L) = 0} tokens and the last step 2; every
 * other step decodes 1 (for {@code L < 1/eps}). The shared loop makes no forward for the empty first step, so
 * {@code S = L} costs {@code L - 1} forwards. Dream computes the times in float32; this uses double, which can move a
 * floor at an exact boundary.
 */
public final class DreamTimeSchedule implements UnmaskSchedule {
    /** Dream's and DiffuCoder's default {@code eps}. */
    public static final double DEFAULT_EPS = 1e-3;

    private final double eps;

    public DreamTimeSchedule(double eps) {
        if (!(eps > 0 && eps < 1)) {
            throw new IllegalArgumentException("eps must be in (0, 1), got " + eps);
        }
        this.eps = eps;
    }

    @Override
    public int[] counts(int masked, int steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be at least 1, got " + steps);
        }
        int[] counts = new int[steps];
        int m = masked;
        for (int s = 0; s < steps; s++) {
            int k;
            if (s < steps - 1) {
                double t = time(s, steps);
                double next = time(s + 1, steps);
                k = (int) Math.floor(m * (1 - next / t));
            } else {
                k = m;
            }
            counts[s] = k;
            m -= k;
        }
        return counts;
    }

    private double time(int i, int steps) {
        return 1 + (eps - 1) * i / steps;
    }
}
