package dev.arbor.generation.eoserass;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class AscendingStepSizeTest {

    /** The table of METHODS.md §3.6 and the reference docstring's L = 127, S = 7. */
    @Test
    void countsMatchTheReferenceTable() {
        assertArrayEquals(new int[] {1, 2, 4, 8, 16, 32, 64, 129}, AscendingStepSize.INSTANCE.counts(256, 8));
        assertArrayEquals(new int[] {1, 2, 4, 8, 16, 32, 64}, AscendingStepSize.INSTANCE.counts(127, 7));
        assertArrayEquals(new int[] {1}, AscendingStepSize.INSTANCE.counts(1, 1));
        assertArrayEquals(new int[] {1, 2, 3}, AscendingStepSize.INSTANCE.counts(6, 3));
    }

    /** For every length: the natural step count is ceil(log2 L) and the counts sum to L, each at least 1. */
    @Test
    void countsSumToTheLengthInLog2Steps() {
        for (int length = 1; length <= 4096; length++) {
            int steps = AscendingStepSize.defaultSteps(length);
            assertEquals(Math.max(1, (int) Math.ceil(Math.log(length) / Math.log(2) - 1e-12)), steps, "L=" + length);
            int[] counts = AscendingStepSize.INSTANCE.counts(length, steps);
            assertEquals(steps, counts.length);
            assertEquals(length, Arrays.stream(counts).sum(), "L=" + length);
            assertTrue(Arrays.stream(counts).allMatch(c -> c >= 1), "L=" + length + ": " + Arrays.toString(counts));
            for (int s = 0; s < steps - 1; s++) {
                assertEquals(1 << s, counts[s], "L=" + length + " step " + s);
            }
        }
    }

    /** A step count that does not fit still decodes everything, in the steps that do fit (0 for the rest). */
    @Test
    void tooManyStepsUseOnlyTheStepsThatFit() {
        assertEquals(3, AscendingStepSize.maxSteps(6));
        assertArrayEquals(new int[] {1, 2, 3, 0, 0}, AscendingStepSize.INSTANCE.counts(6, 5));
    }
}
