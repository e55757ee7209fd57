package dev.arbor.generation.eoserass;

import dev.arbor.api.ArborException;
import java.util.Arrays;

/**
 * The multi-block layout of ascending step sizes ({@code yjyddq/EOSER-ASS-RL eval/generate.py ass_generate} and
 * {@code eoser_ass_generate} with {@code block_num = K > 1}, counts from {@code get_num_transfer_tokens_ass};
 * METHODS.md §3.6): with {@code S = floor(log2 L)} and the reminder {@code r = L - 2^S}, the blocks are cut from the
 * doubling sequence itself, from the last one back: the last block has {@code 2^(S-1) + 1 + r} tokens and is decoded in
 * one step (global step {@code S-1}); the blocks before it have {@code 2^(S-2)}, {@code 2^(S-3)}, ... tokens, one
 * step each; block 0 takes what is left with all the remaining small steps {@code 0 .. S-K}. Global step {@code i}
 * decodes {@code 2^i} tokens, the last one {@code 2^(S-1) + 1 + r}. The docstring's example, {@code L = 128}
 * ("127 + EOS"), {@code S = 7}, {@code K = 4}: blocks of 15 (steps 0-3: 1 + 2 + 4 + 8), 16 (step 4), 32 (step 5) and
 * 65 (step 6: 64 + the EOS position). With {@code K = 1} the single block gets the counts
 * {@code 1, 2, ..., 2^(S-2), L - (2^(S-1) - 1)}.
 *
 * <p>The reference asserts {@code L >= 2^steps} and {@code K <= steps}, and indexes its {@code steps} counts with the
 * powers {@code 0 .. floor(log2 L) - 1}, so it runs only with {@code steps = floor(log2 L)}: this class takes that
 * {@code S} and refuses the rest.
 *
 * @param sizes      the blocks' lengths, left to right (they sum to {@code L})
 * @param blockSteps the global step indices of each block, ascending
 * @param counts     tokens decoded at global step {@code i}, {@code i = 0 .. S-1}
 */
record AssBlockPlan(int[] sizes, int[][] blockSteps, int[] counts) {

    /** The reference's plan for {@code length} tokens in {@code blocks} blocks. */
    static AssBlockPlan of(int length, int blocks) {
        int s = steps(length);
        if (blocks < 1 || blocks > s) {
            throw ArborException.invalid("option 'block_num' must be between 1 and floor(log2 L) = " + s + " for "
                    + length + " generated tokens (each block after the first takes one doubling step), got "
                    + blocks);
        }
        int reminder = length - (1 << s);
        int[] sizes = new int[blocks];
        int[][] steps = new int[blocks][];
        if (blocks == 1) {
            sizes[0] = length;
            steps[0] = range(s);
        } else {
            int power = s - 1;
            int remaining = length;
            for (int b = blocks - 1; b >= 0; b--) {
                if (b == blocks - 1) {
                    sizes[b] = (1 << power) + 1 + reminder;
                    steps[b] = new int[] {power--};
                } else if (b == 0) {
                    sizes[b] = remaining;
                    steps[b] = range(power + 1);
                } else {
                    sizes[b] = 1 << power;
                    steps[b] = new int[] {power--};
                }
                remaining -= sizes[b];
            }
        }
        int[] counts = new int[s];
        for (int i = 0; i < s; i++) {
            // get_num_transfer_tokens_ass: 2^i, the last step the last block's size (one block: L - (2^i - 1), the
            // same number)
            counts[i] = i < s - 1 ? 1 << i : blocks == 1 ? length - ((1 << i) - 1) : sizes[blocks - 1];
        }
        return new AssBlockPlan(sizes, steps, counts);
    }

    /** {@code floor(log2 length)}: the only step count the reference's plan runs with. */
    static int steps(int length) {
        if (length < 1) {
            throw new IllegalArgumentException("length must be at least 1, got " + length);
        }
        return 31 - Integer.numberOfLeadingZeros(length);
    }

    private static int[] range(int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = i;
        }
        return out;
    }

    @Override
    public String toString() {
        return "blocks " + Arrays.toString(sizes) + ", steps " + Arrays.deepToString(blockSteps) + ", counts "
                + Arrays.toString(counts);
    }
}
