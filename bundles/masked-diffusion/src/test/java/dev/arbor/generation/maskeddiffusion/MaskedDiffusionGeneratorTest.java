package dev.arbor.generation.maskeddiffusion;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import dev.arbor.testkit.RecordingSink;
import java.util.Arrays;
import java.util.Map;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class MaskedDiffusionGeneratorTest {
    private final MaskedDiffusionGenerator generator = new MaskedDiffusionGenerator();

    /**
     * Greedy low-confidence decoding, one token per step, against an independent reference written from the
     * definition: at each step take the masked position whose exact conditional has the highest maximum, commit
     * its argmax. Both alignments must give that same sequence (they serve the same joint).
     */
    @Test
    void greedyLowConfidenceMatchesTheDefinitionForBothAlignments() {
        for (long seed = 1; seed <= 5; seed++) {
            EnumeratedJointMaskedBackend same = EnumeratedJointMaskedBackend.random(4, 5, seed, LogitAlignment.SAME);
            EnumeratedJointMaskedBackend next = EnumeratedJointMaskedBackend.random(4, 5, seed, LogitAlignment.NEXT);
            int[] expected = reference(same);
            int[] prompt = {same.boundaryToken()};
            GenerationResult a = generator.generate(TestContexts.context(same, prompt, 5, TestContexts.greedy(), new int[0],
                    1, Map.of()), TokenSink.DISCARD);
            GenerationResult b = generator.generate(TestContexts.context(next, prompt, 5, TestContexts.greedy(), new int[0],
                    1, Map.of()), TokenSink.DISCARD);
            assertArrayEquals(expected, a.tokens(), "SAME alignment, seed " + seed);
            assertArrayEquals(expected, b.tokens(), "NEXT alignment, seed " + seed);
            assertEquals(5, a.forwardPasses(), "one forward per step");
            assertEquals(FinishReason.LENGTH, a.finishReason());
        }
    }

    private static int[] reference(EnumeratedJointMaskedBackend model) {
        int n = model.length();
        int[] x = new int[n];
        Arrays.fill(x, model.maskToken());
        for (int step = 0; step < n; step++) {
            int bestPos = -1;
            int bestTok = -1;
            double best = -1;
            for (int i = 0; i < n; i++) {
                if (x[i] != model.maskToken()) {
                    continue;
                }
                double[] p = model.conditional(i + 1, x);
                for (int v = 0; v < p.length; v++) {
                    // strictly greater: ties go to the left position and the lower id, as the generator's order
                    if (p[v] > best + 1e-6) {
                        best = p[v];
                        bestPos = i;
                        bestTok = v;
                    }
                }
            }
            x[bestPos] = bestTok;
        }
        return x;
    }

    /** The schedule: steps = L/2 commits two tokens per step, so half the forwards, and canvases show it. */
    @Test
    void streamsOneCanvasPerStepAndReleasesTokensInOrder() {
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 6, 3, LogitAlignment.SAME);
        RecordingSink sink = new RecordingSink();
        GenerationResult r = generator.generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 6,
                TestContexts.sampling(), new int[0], 42, Map.of("steps", 3)), sink);
        assertEquals(3, r.forwardPasses());
        assertEquals(2.0, (double) r.stats().get("tokens_per_forward"), 1e-12);
        assertEquals(3, sink.canvases().size());
        for (int s = 0; s < 3; s++) {
            RecordingSink.CanvasEvent c = sink.canvases().get(s);
            assertEquals(s + 1, c.step());
            long masked = Arrays.stream(c.tokens()).filter(t -> t == model.maskToken()).count();
            assertEquals(6 - 2 * (s + 1), masked, "two tokens decoded per step");
        }
        assertArrayEquals(r.tokens(), sink.canvases().get(2).tokens(), "the last canvas is the output");
        assertArrayEquals(r.tokens(), sink.tokens(), "tokens are released in order through accept");
    }

    /** Semi-autoregressive blocks: a later block is never decoded before an earlier one is complete. */
    @Test
    void blocksAreDecodedLeftToRight() {
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 6, 4, LogitAlignment.SAME);
        RecordingSink sink = new RecordingSink();
        generator.generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 6, TestContexts.sampling(),
                new int[0], 5, Map.of("block_length", 2, "remasking", "random")), sink);
        for (RecordingSink.CanvasEvent c : sink.canvases()) {
            int firstMasked = -1;
            for (int i = 0; i < 6; i++) {
                if (c.tokens()[i] == model.maskToken()) {
                    firstMasked = i;
                    break;
                }
            }
            if (firstMasked >= 0) {
                int blockEnd = (firstMasked / 2 + 1) * 2;
                for (int i = blockEnd; i < 6; i++) {
                    assertEquals(model.maskToken(), c.tokens()[i], "step " + c.step() + " decoded a later block");
                }
            }
        }
    }

    /** Everything from the first stop token on is dropped; the result finishes with STOP. */
    @Test
    void outputEndsAtTheFirstStopToken() {
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.randomVariableLength(3, 5, 9,
                LogitAlignment.SAME);
        int eos = model.boundaryToken();
        int stopped = 0;
        for (long seed = 0; seed < 50; seed++) {
            RecordingSink sink = new RecordingSink();
            GenerationResult r = generator.generate(TestContexts.context(model, new int[] {eos}, 5, TestContexts.sampling(),
                    new int[] {eos}, seed, Map.of()), sink);
            assertTrue(Arrays.stream(r.tokens()).noneMatch(t -> t == eos));
            assertArrayEquals(r.tokens(), sink.tokens());
            if (r.tokens().length < 5) {
                stopped++;
                assertEquals(FinishReason.STOP, r.finishReason());
            }
        }
        assertTrue(stopped > 0, "some samples must end early, or the test proves nothing");
    }

    @Test
    void refusesACausalModelNamingBothParts() {
        EnumeratedJointBackend causal = EnumeratedJointBackend.random(3, 3, 1);
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestContexts.context(causal,
                new int[] {3}, 3, TestContexts.greedy(), new int[0], 1, Map.of()), TokenSink.DISCARD));
        assertEquals(ArborException.Kind.INCOMPATIBLE, e.kind());
        assertTrue(e.getMessage().contains("masked-diffusion") && e.getMessage().contains(causal.card().name()),
                e.getMessage());
    }

    @Test
    void refusesAModelWithoutMaskToken() {
        EnumeratedJointMaskedBackend inner = EnumeratedJointMaskedBackend.random(3, 3, 1, LogitAlignment.SAME);
        ModelCard c = inner.card();
        ModelCard noMask = new ModelCard("no-mask", c.vocabSize(), c.maxPositions(), 0, c.bosTokenId(),
                c.eosTokenIds(), OptionalInt.empty(), OptionalInt.empty(), c.alignment(), NativeAttention.BIDIRECTIONAL,
                0, c.capabilities());
        ModelBackend model = new ModelBackend() {
            @Override
            public ModelCard card() {
                return noMask;
            }

            @Override
            public DecodeState newState(int batchSize) {
                return inner.newState(batchSize);
            }

            @Override
            public ForwardResult forward(ForwardRequest request) {
                return inner.forward(request);
            }

            @Override
            public void close() {
            }
        };
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestContexts.context(model,
                new int[] {4}, 3, TestContexts.greedy(), new int[0], 1, Map.of()), TokenSink.DISCARD));
        assertTrue(e.getMessage().contains("MASK token id") && e.getMessage().contains("no-mask"), e.getMessage());
    }

    @Test
    void refusesUnknownOptionsWithTheAllowedValues() {
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 3, 1, LogitAlignment.SAME);
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestContexts.context(model,
                new int[] {4}, 3, TestContexts.greedy(), new int[0], 1, Map.of("remasking", "lowest")),
                TokenSink.DISCARD));
        assertTrue(e.getMessage().contains("low_confidence or random"), e.getMessage());
    }

    /** A request cancelled mid-way returns CANCELLED with what was final so far (whole blocks only). */
    @Test
    void cancellationEndsWithTheCompletedBlocks() {
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 6, 2, LogitAlignment.SAME);
        int[] checks = {0};
        dev.arbor.api.generation.Cancellation afterFourSteps = () -> ++checks[0] > 4;
        GenerationResult r = generator.generate(new dev.arbor.api.generation.GenerationContext(model, null,
                new int[] {4}, 6, TestContexts.greedy(), new int[0], 1, dev.arbor.api.Options.of(Map.of("block_length",
                3)), afterFourSteps), TokenSink.DISCARD);
        assertEquals(FinishReason.CANCELLED, r.finishReason());
        assertEquals(3, r.tokens().length, "the first block (3 steps) is complete and released");
        assertEquals(4, r.forwardPasses());
    }

    @Test
    void aSinkThatStopsEndsGeneration() {
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 5, 2, LogitAlignment.SAME);
        RecordingSink sink = new RecordingSink(2);
        GenerationResult r = generator.generate(TestContexts.context(model, new int[] {4}, 5, TestContexts.greedy(),
                new int[0], 1, Map.of("block_length", 1)), sink);
        assertEquals(2, r.tokens().length);
        assertEquals(FinishReason.STOP, r.finishReason());
        assertEquals(2, r.forwardPasses(), "blocks after the stop are not decoded");
    }
}
