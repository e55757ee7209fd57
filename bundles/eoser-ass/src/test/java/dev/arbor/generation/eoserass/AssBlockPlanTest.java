package dev.arbor.generation.eoserass;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.ArborException;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The reference's multi-block ASS plan ({@code ass_generate}, {@code get_num_transfer_tokens_ass}), by hand. */
class AssBlockPlanTest {

    /**
     * The docstring's example, "gen_length=127 (2^7-1), steps=7, block_num=4 ... + last eos token", which the
     * function runs with its default gen_length = 128: S = 7, reminder 0; last block 2^6 + 1 = 65 (step 6), then
     * 2^5 = 32 (step 5), 2^4 = 16 (step 4), and block 0 the rest, 128 - 65 - 32 - 16 = 15 (steps 0-3, 1 + 2 + 4 + 8).
     */
    @Test
    void theDocstringExample() {
        AssBlockPlan plan = AssBlockPlan.of(128, 4);
        assertArrayEquals(new int[] {15, 16, 32, 65}, plan.sizes());
        assertArrayEquals(new int[][] {{0, 1, 2, 3}, {4}, {5}, {6}}, plan.blockSteps());
        assertArrayEquals(new int[] {1, 2, 4, 8, 16, 32, 65}, plan.counts());
    }

    /**
     * More (L, K), each worked out with the reference's loop (S = floor(log2 L), r = L - 2^S):
     * <pre>
     * L = 128, K = 1: one block, steps 0-6, counts 1 .. 32, then 128 - 63 = 65
     * L = 128, K = 7: 65 (6), 32 (5), 16 (4), 8 (3), 4 (2), 2 (1), block 0 = 128 - 127 = 1 (step 0)
     * L = 200, K = 4: S = 7, r = 72: 64 + 1 + 72 = 137 (6), 32 (5), 16 (4), block 0 = 200 - 185 = 15 (0-3)
     * L = 256, K = 2: S = 8: 128 + 1 = 129 (7), block 0 = 127 (0-6)
     * L = 48,  K = 3: S = 5, r = 16: 16 + 1 + 16 = 33 (4), 8 (3), block 0 = 48 - 41 = 7 (0-2)
     * L = 4,   K = 2: S = 2: 2 + 1 = 3 (1), block 0 = 1 (0)
     * </pre>
     */
    @Test
    void planTable() {
        check(AssBlockPlan.of(128, 1), new int[] {128}, new int[][] {{0, 1, 2, 3, 4, 5, 6}},
                new int[] {1, 2, 4, 8, 16, 32, 65});
        check(AssBlockPlan.of(128, 7), new int[] {1, 2, 4, 8, 16, 32, 65},
                new int[][] {{0}, {1}, {2}, {3}, {4}, {5}, {6}}, new int[] {1, 2, 4, 8, 16, 32, 65});
        check(AssBlockPlan.of(200, 4), new int[] {15, 16, 32, 137}, new int[][] {{0, 1, 2, 3}, {4}, {5}, {6}},
                new int[] {1, 2, 4, 8, 16, 32, 137});
        check(AssBlockPlan.of(256, 2), new int[] {127, 129}, new int[][] {{0, 1, 2, 3, 4, 5, 6}, {7}},
                new int[] {1, 2, 4, 8, 16, 32, 64, 129});
        check(AssBlockPlan.of(48, 3), new int[] {7, 8, 33}, new int[][] {{0, 1, 2}, {3}, {4}},
                new int[] {1, 2, 4, 8, 33});
        check(AssBlockPlan.of(4, 2), new int[] {1, 3}, new int[][] {{0}, {1}}, new int[] {1, 3});
    }

    /**
     * For every L up to 600 and every K the reference allows: the blocks cover L, the steps are 0 .. S-1 once each in
     * order, and each block's counts add up to its size (so every block ends fully decoded).
     */
    @Test
    void everyPlanCoversTheRegionExactly() {
        for (int length = 4; length <= 600; length++) {
            int s = AssBlockPlan.steps(length);
            assertEquals((int) Math.floor(Math.log(length) / Math.log(2) + 1e-12), s, "L=" + length);
            for (int blocks = 1; blocks <= s; blocks++) {
                AssBlockPlan plan = AssBlockPlan.of(length, blocks);
                String where = "L=" + length + " K=" + blocks + ": " + plan;
                assertEquals(length, Arrays.stream(plan.sizes()).sum(), where);
                assertArrayEquals(java.util.stream.IntStream.range(0, s).toArray(),
                        Arrays.stream(plan.blockSteps()).flatMapToInt(Arrays::stream).toArray(), where);
                for (int b = 0; b < blocks; b++) {
                    assertEquals(plan.sizes()[b], Arrays.stream(plan.blockSteps()[b]).map(i -> plan.counts()[i]).sum(),
                            where + " block " + b);
                    assertTrue(plan.sizes()[b] >= 1, where);
                }
            }
        }
    }

    @Test
    void refusesMoreBlocksThanSteps() {
        ArborException e = assertThrows(ArborException.class, () -> AssBlockPlan.of(100, 7));
        assertTrue(e.getMessage().contains("between 1 and floor(log2 L) = 6"), e.getMessage());
    }

    private static void check(AssBlockPlan plan, int[] sizes, int[][] steps, int[] counts) {
        assertArrayEquals(sizes, plan.sizes(), plan.toString());
        assertArrayEquals(steps, plan.blockSteps(), plan.toString());
        assertArrayEquals(counts, plan.counts(), plan.toString());
    }
}
