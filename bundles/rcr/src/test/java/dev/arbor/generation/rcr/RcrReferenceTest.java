package dev.arbor.generation.rcr;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The generator against MDPO's RCR loop written out literally from METHODS.md §3.7 in this test (temperature 0, exact
 * conditionals): each step decodes every masked position before the block's end with its argmax and records
 * {@code rc = p(argmax)}; unless it is the last step, the {@code K' = sum_{j>s} n_j} positions with the lowest
 * {@code rc} among those ever decoded go back to MASK (ties: the later position). As in the reference, {@code rc}
 * spans the whole sequence, so a token of an earlier block can go back to MASK ({@code cross_block_remask}, the
 * default); with {@code cross_block_remask = false} it is reset at each block and only the block's positions are
 * decoded or remasked. The generator does this as one choice over proposals and earlier tokens; both must give the
 * same tokens.
 */
class RcrReferenceTest {

    @Test
    void greedyRcrMatchesTheLiteralAlgorithm() {
        RcrGenerator generator = new RcrGenerator();
        int differentFromPlain = 0;
        int acrossBlocks = 0;
        for (boolean crossBlock : new boolean[] {true, false}) {
            for (LogitAlignment alignment : LogitAlignment.values()) {
                for (long seed = 1; seed <= 10; seed++) {
                    EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 6, seed, alignment);
                    for (int[] shape : new int[][] {{6, 6}, {3, 6}, {2, 6}, {4, 3}, {6, 3}, {6, 2}}) {
                        int steps = shape[0];
                        int block = shape[1];
                        int[] expected = reference(model, steps, block, crossBlock);
                        Map<String, Object> options = crossBlock ? Map.of("steps", steps, "block_length", block)
                                : Map.of("steps", steps, "block_length", block, "cross_block_remask", false);
                        GenerationResult r = generator.generate(TestContexts.context(model,
                                new int[] {model.boundaryToken()}, 6, TestContexts.greedy(), new int[0], 1, options),
                                TokenSink.DISCARD);
                        assertArrayEquals(expected, r.tokens(), alignment + " seed " + seed + " steps " + steps
                                + " block " + block + " cross " + crossBlock);
                        differentFromPlain += (int) r.stats().get("remasked") > 0 ? 1 : 0;
                        acrossBlocks += (int) r.stats().get("remasked_earlier_blocks");
                    }
                }
            }
        }
        assertTrue(differentFromPlain > 0, "no case remasked anything; the comparison would not test RCR");
        assertTrue(acrossBlocks > 0, "no case remasked a token of an earlier block; the comparison would not test "
                + "cross-block remasking");
    }

    private static int[] reference(EnumeratedJointMaskedBackend model, int steps, int blockLength,
                                   boolean crossBlock) {
        int n = model.length();
        int mask = model.maskToken();
        int[] x = new int[n];
        Arrays.fill(x, mask);
        int blocks = n / blockLength;
        assertEquals(0, steps % blocks, "the reference needs steps to be a multiple of the blocks");
        int perBlock = steps / blocks;
        double[] rc = new double[n]; // 0 = never decoded (confidences here are > 0); the reference's overtime_confidence
        for (int b = 0; b < blocks; b++) {
            int start = b * blockLength;
            int end = start + blockLength;
            if (!crossBlock) {
                Arrays.fill(rc, 0);
            }
            int from = crossBlock ? 0 : start;
            int[] counts = MaskGitSchedule.LINEAR.counts(blockLength, Math.min(perBlock, blockLength));
            for (int s = 0; s < counts.length; s++) {
                int[] snapshot = x.clone();
                for (int i = from; i < end; i++) {
                    if (snapshot[i] != mask) {
                        continue;
                    }
                    double[] p = model.conditional(i + 1, snapshot);
                    int best = 0;
                    for (int v = 1; v < p.length; v++) {
                        if (p[v] > p[best]) {
                            best = v;
                        }
                    }
                    x[i] = best;
                    rc[i] = p[best];
                }
                if (s < counts.length - 1) {
                    int keepMasked = Arrays.stream(counts, s + 1, counts.length).sum();
                    for (int r = 0; r < keepMasked; r++) {
                        int lowest = -1;
                        for (int i = from; i < end; i++) {
                            if (x[i] != mask && rc[i] != 0 && (lowest < 0 || rc[i] <= rc[lowest])) {
                                lowest = i; // <= : among equal rc the later position goes back first
                            }
                        }
                        x[lowest] = mask;
                        rc[lowest] = 0;
                    }
                }
            }
        }
        return x;
    }
}
