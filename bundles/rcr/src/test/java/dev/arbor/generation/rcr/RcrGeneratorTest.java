package dev.arbor.generation.rcr;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.StepView;
import dev.arbor.diffusion.UnmaskSchedule;
import dev.arbor.generation.maskeddiffusion.MaskedDiffusionGenerator;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import dev.arbor.testkit.RecordingSink;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class RcrGeneratorTest {
    private final RcrGenerator generator = new RcrGenerator();

    /**
     * METHODS.md §3.7 tests (1) and (3), over seeds, both alignments, greedy and sampling, one block and several,
     * with and without cross-block remasking:
     * after every step the number of decoded positions is exactly what the schedule has asked for so far (per block,
     * blocks left to right), and the output has no MASK. Also checks that remasking really happened in this sweep,
     * or the invariant would hold trivially.
     */
    @Test
    void afterEveryStepExactlyTheScheduledNumberIsDecodedAndNoMaskRemains() {
        int remasked = 0;
        int earlierRemasked = 0;
        for (LogitAlignment alignment : LogitAlignment.values()) {
            for (long seed = 1; seed <= 10; seed++) {
                EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 6, seed, alignment);
                for (Supplier<Sampler> samplers : List.of(TestContexts.greedy(), TestContexts.sampling())) {
                    for (String schedule : List.of("linear", "cosine", "uniform")) {
                        for (int[] shape : new int[][] {{6, 0}, {3, 0}, {4, 3}, {6, 2}, {6, 3}}) {
                          for (boolean crossBlock : new boolean[] {true, false}) {
                            int steps = shape[0];
                            int blockLength = shape[1];
                            Map<String, Object> options = Map.of("steps", steps, "block_length", blockLength,
                                    "schedule", schedule, "cross_block_remask", crossBlock);
                            RecordingSink sink = new RecordingSink();
                            GenerationResult r = generator.generate(TestContexts.context(model,
                                    new int[] {model.boundaryToken()}, 6, samplers, new int[0], seed, options), sink);
                            int[] expected = expectedDecoded(schedule, steps, blockLength);
                            String where = alignment + " seed " + seed + " " + options;
                            assertEquals(expected.length, sink.canvases().size(), where);
                            for (int i = 0; i < expected.length; i++) {
                                int[] canvas = sink.canvases().get(i).tokens();
                                long decoded = Arrays.stream(canvas).filter(t -> t != model.maskToken()).count();
                                assertEquals(expected[i], decoded, where + " after step " + (i + 1));
                            }
                            assertEquals(6, r.tokens().length, where);
                            assertTrue(Arrays.stream(r.tokens()).noneMatch(t -> t == model.maskToken()), where);
                            assertArrayEquals(r.tokens(), sink.canvases().get(expected.length - 1).tokens());
                            remasked += (int) r.stats().get("remasked");
                            earlierRemasked += (int) r.stats().get("remasked_earlier_blocks");
                            if (!crossBlock) {
                                assertEquals(0, r.stats().get("remasked_earlier_blocks"), where);
                            }
                          }
                        }
                    }
                }
            }
        }
        assertTrue(remasked > 0, "no token was ever remasked: the sweep would not exercise RCR");
        assertTrue(earlierRemasked > 0, "no token of an earlier block was ever remasked: the sweep would not "
                + "exercise cross-block remasking");
    }

    /** Decoded positions after each step: completed blocks plus the schedule's cumulative counts in the block. */
    private static int[] expectedDecoded(String schedule, int steps, int blockLength) {
        UnmaskSchedule s = switch (schedule) {
            case "linear" -> MaskGitSchedule.LINEAR;
            case "cosine" -> MaskGitSchedule.COSINE;
            default -> UnmaskSchedule.UNIFORM;
        };
        int block = blockLength == 0 ? 6 : blockLength;
        int blocks = 6 / block;
        List<Integer> out = new ArrayList<>();
        int done = 0;
        for (int b = 0; b < blocks; b++) {
            int share = steps / blocks + (b < steps % blocks ? 1 : 0);
            int cumulative = done;
            for (int c : s.counts(block, Math.min(share, block))) {
                if (c > 0) { // the loop makes no step for a count of 0
                    cumulative += c;
                    out.add(cumulative);
                }
            }
            done += block;
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * With {@code cross_block_remask} false, once a block is complete its tokens never change in any later canvas,
     * while inside the current block tokens do get remasked (shown by some canvas where a decoded position becomes
     * MASK again).
     */
    @Test
    void withoutCrossBlockRemaskingCompletedBlocksAreNeverRemasked() {
        boolean sawInBlockRemask = false;
        for (long seed = 1; seed <= 30; seed++) {
            EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 6, seed, LogitAlignment.SAME);
            RecordingSink sink = new RecordingSink();
            generator.generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 6, TestContexts.sampling(),
                    new int[0], seed, Map.of("steps", 6, "block_length", 3, "cross_block_remask", false)), sink);
            int[] previous = null;
            for (RecordingSink.CanvasEvent c : sink.canvases()) {
                int[] now = c.tokens();
                boolean firstBlockDone = Arrays.stream(now, 0, 3).noneMatch(t -> t == model.maskToken());
                if (previous != null) {
                    boolean wasDone = Arrays.stream(previous, 0, 3).noneMatch(t -> t == model.maskToken());
                    if (wasDone) {
                        assertArrayEquals(Arrays.copyOf(previous, 3), Arrays.copyOf(now, 3),
                                "seed " + seed + ": the completed first block changed at step " + c.step());
                    }
                    for (int i = 0; i < 6; i++) {
                        sawInBlockRemask |= previous[i] != model.maskToken() && now[i] == model.maskToken();
                    }
                }
                assertTrue(firstBlockDone || Arrays.stream(now, 3, 6).allMatch(t -> t == model.maskToken()),
                        "the second block is decoded only after the first");
                previous = now;
            }
        }
        assertTrue(sawInBlockRemask, "no in-block remask was ever seen; the test would prove nothing");
    }

    /**
     * With {@code cross_block_remask} true (the default, as the reference), a token of the completed first block can
     * go back to MASK while the second block is decoded, and is then decoded again: some canvas shows a first-block
     * position decoded after the block was complete, MASK one step later, and the final output has no MASK. Each
     * such event is counted in {@code remasked_earlier_blocks}.
     */
    @Test
    void byDefaultATokenOfAnEarlierBlockCanBeRemaskedAndDecodedAgain() {
        int counted = 0;
        for (long seed = 1; seed <= 30; seed++) {
            EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 6, seed, LogitAlignment.SAME);
            RecordingSink sink = new RecordingSink();
            GenerationResult r = generator.generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 6,
                    TestContexts.sampling(), new int[0], seed, Map.of("steps", 6, "block_length", 3)), sink);
            int[] previous = null;
            boolean firstBlockWasDone = false;
            int seen = 0;
            for (RecordingSink.CanvasEvent c : sink.canvases()) {
                int[] now = c.tokens();
                if (previous != null && firstBlockWasDone) {
                    for (int i = 0; i < 3; i++) {
                        seen += previous[i] != model.maskToken() && now[i] == model.maskToken() ? 1 : 0;
                    }
                }
                firstBlockWasDone |= Arrays.stream(now, 0, 3).noneMatch(t -> t == model.maskToken());
                previous = now;
            }
            assertEquals(seen, r.stats().get("remasked_earlier_blocks"), "seed " + seed);
            assertTrue(Arrays.stream(r.tokens()).noneMatch(t -> t == model.maskToken()), "seed " + seed);
            assertEquals(6, r.tokens().length);
            counted += seen > 0 ? 1 : 0;
        }
        assertTrue(counted > 0, "no seed remasked a token of the completed first block");
    }

    /**
     * METHODS.md §3.7 test (2): when a decoded token's confidence never changes (independent positions: every
     * conditional is the marginal), the tokens with the highest running confidence are the ones low-confidence
     * decoding would have chosen, so RCR equals plain LLaDA decoding and remasks nothing.
     */
    @Test
    void withConfidencesThatNeverChangeRcrEqualsPlainDecoding() {
        double[][] marginals = {{0.6, 0.3, 0.1}, {0.2, 0.75, 0.05}, {0.4, 0.35, 0.25}, {0.1, 0.05, 0.85}};
        Map<List<Integer>, Double> joint = new HashMap<>();
        for (int a = 0; a < 3; a++) {
            for (int b = 0; b < 3; b++) {
                for (int c = 0; c < 3; c++) {
                    for (int d = 0; d < 3; d++) {
                        joint.put(List.of(a, b, c, d), marginals[0][a] * marginals[1][b] * marginals[2][c]
                                * marginals[3][d]);
                    }
                }
            }
        }
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.of(3, 4, joint, LogitAlignment.SAME);
        MaskedDiffusionGenerator plain = new MaskedDiffusionGenerator();
        for (int steps = 1; steps <= 4; steps++) {
            RecordingSink a = new RecordingSink();
            RecordingSink b = new RecordingSink();
            Map<String, Object> options = Map.of("steps", steps, "schedule", "uniform");
            GenerationResult x = generator.generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 4,
                    TestContexts.greedy(), new int[0], 1, options), a);
            GenerationResult y = plain.generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 4,
                    TestContexts.greedy(), new int[0], 1, Map.of("steps", steps)), b);
            assertArrayEquals(y.tokens(), x.tokens(), "steps " + steps);
            assertEquals(0, x.stats().get("remasked"));
            for (int i = 0; i < a.canvases().size(); i++) {
                assertArrayEquals(b.canvases().get(i).tokens(), a.canvases().get(i).tokens());
            }
        }
    }

    /** METHODS.md §3.7 test (4), on the policy alone: only a token among the K' lowest running confidences goes back. */
    @Test
    void onlyTheLowestRunningConfidencesAreRemasked() {
        Canvas canvas = new Canvas(new int[] {9}, 4, 8);
        RunningConfidenceRemasking rcr = new RunningConfidenceRemasking(false);
        StepView view = new StepView(canvas, 1, 5, 0, 3, 0, new SplittableRandom(1));
        List<Proposal> first = List.of(p(1, 0.9), p(2, 0.2), p(3, 0.5), p(4, 0.7));
        List<Proposal> chosen = rcr.choose(view, first, 2);
        assertEquals(List.of(1, 4), chosen.stream().map(Proposal::position).toList());
        commit(canvas, chosen);
        // Step 1: position 3 now proposes 0.8, above position 4's running 0.7, so 4 goes back and 2, 3 are committed.
        view = new StepView(canvas, 1, 5, 1, 3, 1, new SplittableRandom(1));
        chosen = rcr.choose(view, List.of(p(2, 0.95), p(3, 0.8)), 1);
        assertEquals(List.of(2, 3), chosen.stream().map(Proposal::position).toList());
        assertTrue(canvas.isMasked(4), "position 4 had the lowest running confidence");
        assertEquals(1, rcr.remasked());
        commit(canvas, chosen);
        assertEquals(1, canvas.maskedCount());
        // Step 2 (last): everything left is committed, nothing remasked.
        view = new StepView(canvas, 1, 5, 2, 3, 2, new SplittableRandom(1));
        chosen = rcr.choose(view, List.of(p(4, 0.1)), 1);
        assertEquals(List.of(4), chosen.stream().map(Proposal::position).toList());
        assertEquals(1, rcr.remasked());
    }

    private static Proposal p(int position, double confidence) {
        return new Proposal(position, 0, confidence, confidence, null);
    }

    private static void commit(Canvas canvas, List<Proposal> chosen) {
        for (Proposal q : chosen) {
            canvas.commit(q.position(), q.token(), 0);
        }
    }

    @Test
    void maskGitSchedulesFollowTheirGamma() {
        assertArrayEquals(new int[] {2, 2, 2}, MaskGitSchedule.LINEAR.counts(6, 3));
        // linear: still masked after t = floor(10 (3-t) / 4) = 7, 5, 2, 0
        assertArrayEquals(new int[] {3, 2, 3, 2}, MaskGitSchedule.LINEAR.counts(10, 4));
        // cosine: still masked after t = floor(10 cos(pi/2 (t+1)/4)) = 9, 7, 3, 0
        assertArrayEquals(new int[] {1, 2, 4, 3}, MaskGitSchedule.COSINE.counts(10, 4));
        for (int m = 1; m <= 64; m++) {
            for (int s = 1; s <= m; s++) {
                assertEquals(m, Arrays.stream(MaskGitSchedule.LINEAR.counts(m, s)).sum());
                assertEquals(m, Arrays.stream(MaskGitSchedule.COSINE.counts(m, s)).sum());
                assertTrue(Arrays.stream(MaskGitSchedule.LINEAR.counts(m, s)).allMatch(c -> c >= 1));
            }
        }
    }

    @Test
    void refusesACausalModelNamingBothParts() {
        EnumeratedJointBackend causal = EnumeratedJointBackend.random(3, 3, 1);
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestContexts.context(causal,
                new int[] {3}, 3, TestContexts.greedy(), new int[0], 1, Map.of()), TokenSink.DISCARD));
        assertEquals(ArborException.Kind.INCOMPATIBLE, e.kind());
        assertTrue(e.getMessage().contains(RcrGenerator.NAME) && e.getMessage().contains(causal.card().name()),
                e.getMessage());
    }

    @Test
    void refusesBadOptionsWithActionableMessages() {
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 4, 1, LogitAlignment.SAME);
        assertRefused(model, Map.of("schedule", "exp"), "linear, cosine or uniform");
        assertRefused(model, Map.of("confidence", "entropy"), "max_prob, margin or neg_entropy");
        assertRefused(model, Map.of("steps", 0), "between 1");
        assertRefused(model, Map.of("cross_block_remask", "sometimes"), "'cross_block_remask' must be true or false");
    }

    private void assertRefused(ModelBackend model, Map<String, Object> options, String expected) {
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestContexts.context(model,
                new int[] {model.card().bosTokenId().getAsInt()}, 4, TestContexts.greedy(), new int[0], 1, options),
                TokenSink.DISCARD));
        assertTrue(e.getMessage().contains(expected), options + ": " + e.getMessage());
    }
}
