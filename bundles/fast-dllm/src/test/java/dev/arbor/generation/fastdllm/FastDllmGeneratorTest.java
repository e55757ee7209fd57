package dev.arbor.generation.fastdllm;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.model.StateWrite;
import dev.arbor.diffusion.DiffusionModel;
import dev.arbor.generation.maskeddiffusion.MaskedDiffusionGenerator;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import dev.arbor.testkit.RecordingSink;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class FastDllmGeneratorTest {
    private final FastDllmGenerator fast = new FastDllmGenerator();
    private final MaskedDiffusionGenerator fixed = new MaskedDiffusionGenerator();

    /**
     * METHODS.md §3.4 test (2): a threshold above 1 commits exactly one token per forward, the most confident, which
     * is fixed-step low-confidence decoding with one token per step (sub-block = block). On the enumerated joint and
     * on the tiny transformer (whose committed-block cache must then be exact for the outputs to agree), for both
     * alignments.
     */
    @Test
    void thresholdAboveOneEqualsFixedStepDecoding() {
        for (LogitAlignment alignment : LogitAlignment.values()) {
            for (long seed = 1; seed <= 3; seed++) {
                EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.random(3, 6, seed, alignment,
                        NativeAttention.BLOCK_CAUSAL, 2);
                compareWithFixed(toy, new int[] {toy.boundaryToken()}, 6, 2);
                ModelBackend tiny = TinyTransformers.blockCausal(4, alignment, seed);
                compareWithFixed(tiny, new int[] {1, 5, 9, 2, 7}, 19, 4);
            }
        }
    }

    private void compareWithFixed(ModelBackend model, int[] prompt, int length, int blockSize) {
        RecordingSink sink = new RecordingSink();
        GenerationResult a = fast.generate(TestContexts.context(model, prompt, length, TestContexts.greedy(), new int[0], 1,
                Map.of("threshold", 1.5, "sub_block_size", blockSize)), sink);
        GenerationResult b = fixed.generate(TestContexts.context(model, prompt, length, TestContexts.greedy(), new int[0], 1,
                Map.of()), TokenSink.DISCARD);
        assertArrayEquals(b.tokens(), a.tokens(), model.card().name());
        assertEquals(length, a.tokens().length);
        for (int s = 1; s < sink.canvases().size(); s++) {
            long before = masked(sink.canvases().get(s - 1).tokens(), model.card().maskTokenId().getAsInt());
            long after = masked(sink.canvases().get(s).tokens(), model.card().maskTokenId().getAsInt());
            assertEquals(before - 1, after, "one token per step");
        }
    }

    private static long masked(int[] tokens, int mask) {
        return Arrays.stream(tokens).filter(t -> t == mask).count();
    }

    /** Threshold 0: every proposal (confidence > 0) is committed, so each sub-block takes one forward. */
    @Test
    void thresholdZeroDecodesAWholeSubBlockPerForward() {
        ModelBackend tiny = TinyTransformers.blockCausal(8, LogitAlignment.SAME, 4);
        RecordingSink sink = new RecordingSink();
        GenerationResult r = fast.generate(TestContexts.context(tiny, new int[] {1, 2, 3}, 29, TestContexts.greedy(),
                new int[0], 1, Map.of("threshold", 0.0, "sub_block_size", 4)), sink);
        assertEquals(29, r.tokens().length);
        // the canvas [0, 32) has sub-blocks of 4 starting at 0; the first holds 3 prompt tokens and one MASK
        assertEquals(8, sink.canvases().size(), "one step per sub-block");
        // forwards: 8 sub-block steps + 3 commit forwards of the first three blocks (no prefill: prompt < block)
        assertEquals(11, r.forwardPasses());
    }

    /** §3.4 test (3): tokens per forward do not fall as the threshold decreases (greedy, fixed prompt). */
    @Test
    void tokensPerForwardGrowAsTheThresholdFalls() {
        for (long seed = 1; seed <= 3; seed++) {
            EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.random(3, 6, seed, LogitAlignment.SAME,
                    NativeAttention.BLOCK_CAUSAL, 7);
            int previous = Integer.MAX_VALUE;
            for (double tau : new double[] {1.5, 0.9, 0.7, 0.5, 0.3, 0.1, 0.0}) {
                GenerationResult r = fast.generate(TestContexts.context(toy, new int[] {toy.boundaryToken()}, 6,
                        TestContexts.greedy(), new int[0], 1, Map.of("threshold", tau, "sub_block_size", 7)),
                        TokenSink.DISCARD);
                int steps = (int) r.stats().get("steps");
                assertTrue(steps <= previous, "seed " + seed + ": threshold " + tau + " took " + steps
                        + " steps, more than a higher threshold's " + previous);
                previous = steps;
            }
            assertEquals(1, previous, "threshold 0 decodes the single block in one step");
        }
    }

    /**
     * §3.4 test (1): the logits of the current block over the committed-block cache equal a full recompute with
     * the block-causal Segments mask (|delta| < 1e-5) on the tiny transformer.
     */
    @Test
    void committedBlockCacheEqualsRecompute() {
        for (LogitAlignment alignment : LogitAlignment.values()) {
            ModelBackend tiny = TinyTransformers.blockCausal(4, alignment, 7);
            DiffusionModel model = DiffusionModel.of(tiny, "test");
            SplittableRandom rng = new SplittableRandom(3);
            int[] canvas = new int[16];
            for (int i = 0; i < canvas.length; i++) {
                canvas[i] = i >= 13 || i == 10 ? TinyTransformers.MASK : rng.nextInt(TinyTransformers.MASK);
            }
            float[][] recomputed = tiny.forward(ForwardRequest.builder(new int[][] {canvas})
                    .attention(model.attention(16, 0, 16)).build()).logits()[0];
            try (DecodeState state = tiny.newState(1)) {
                for (int block = 0; block < 3; block++) {
                    int[] pos = DiffusionModel.range(block * 4, block * 4 + 4);
                    tiny.forward(ForwardRequest.builder(new int[][] {Arrays.copyOfRange(canvas, block * 4,
                                    block * 4 + 4)}).positions(new int[][] {pos})
                            .attention(model.attention(DiffusionModel.range(0, block * 4 + 4), pos)).state(state)
                            .write(StateWrite.APPEND).build());
                }
                int[] pos = DiffusionModel.range(12, 16);
                float[][] cached = tiny.forward(ForwardRequest.builder(new int[][] {Arrays.copyOfRange(canvas, 12,
                                16)}).positions(new int[][] {pos}).attention(model.attention(DiffusionModel.range(0,
                                16), pos)).state(state).write(StateWrite.NONE).build()).logits()[0];
                double max = 0;
                for (int q = 0; q < 4; q++) {
                    for (int v = 0; v < cached[q].length; v++) {
                        max = Math.max(max, Math.abs(cached[q][v] - recomputed[12 + q][v]));
                    }
                }
                assertTrue(max < 1e-5, alignment + ": max |delta| = " + max);
            }
            assertTrue(model.attention(16, 0, 16) instanceof AttentionSpec.Segments);
        }
    }

    /** §3.4 test (5): nothing after the first stop token is emitted. */
    @Test
    void stopsAtTheFirstStopToken() {
        EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.randomVariableLength(3, 6, 5,
                LogitAlignment.NEXT);
        int eos = toy.boundaryToken();
        int early = 0;
        for (long seed = 0; seed < 40; seed++) {
            RecordingSink sink = new RecordingSink();
            GenerationResult r = fast.generate(TestContexts.context(toy, new int[] {eos}, 6, TestContexts.sampling(),
                    new int[] {eos}, seed, Map.of("block_size", 2, "threshold", 0.5)), sink);
            assertTrue(Arrays.stream(r.tokens()).noneMatch(t -> t == eos));
            assertArrayEquals(r.tokens(), sink.tokens());
            if (r.tokens().length < 6) {
                early++;
                assertEquals(FinishReason.STOP, r.finishReason());
            }
        }
        assertTrue(early > 0, "some samples must stop early, or the test proves nothing");
    }

    @Test
    void refusesASubBlockThatDoesNotDivideTheBlock() {
        ModelBackend tiny = TinyTransformers.blockCausal(4, LogitAlignment.NEXT, 1);
        ArborException e = assertThrows(ArborException.class, () -> fast.generate(TestContexts.context(tiny,
                new int[] {1}, 8, TestContexts.greedy(), new int[0], 1, Map.of("sub_block_size", 3)), TokenSink.DISCARD));
        assertTrue(e.getMessage().contains("must divide the block size 4"), e.getMessage());
    }
}
