package dev.arbor.forge;

import java.util.SplittableRandom;

/** Training or held-out data as fixed-length windows of ids: a token stream, or one row per image. */
public interface Windows {

    /** {@code count} windows of {@code len} ids drawn uniformly at random with {@code rng}. */
    int[][] randomWindows(int count, int len, SplittableRandom rng);

    /** Window {@code i} of the evaluation order (consecutive, non-overlapping; wrapping). */
    int[] window(int i, int len);

    /** How many distinct windows of {@code len} the data holds (0 when none fits). */
    int windowCount(int len);

    /** Ids in all (for messages). */
    int length();
}
