package dev.arbor.generation.dinfer;

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
import dev.arbor.api.model.NativeAttention;
import dev.arbor.diffusion.ConfidenceMetric;
import dev.arbor.diffusion.DiffusionModel;
import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.TokenProposer;
import dev.arbor.generation.maskeddiffusion.MaskedDiffusionGenerator;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import dev.arbor.testkit.RecordingSink;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DinferGeneratorTest {
    private final DinferGenerator dinfer = new DinferGenerator();

    private GenerationResult run(ModelBackend model, int[] prompt, int length, boolean greedy, long seed,
                                 Map<String, Object> options) {
        return dinfer.generate(TestContexts.context(model, prompt, length, greedy ? TestContexts.greedy()
                : TestContexts.sampling(), new int[0], seed, options), TokenSink.DISCARD);
    }

    /**
     * §3.5 test (1): threshold above 1 commits one token per forward and equals the fixed decoder with steps =
     * block length, and the core's low-confidence decoding with one token per step.
     */
    @Test
    void thresholdAboveOneEqualsFixedStepDecoding() {
        for (LogitAlignment alignment : LogitAlignment.values()) {
            for (long seed = 1; seed <= 4; seed++) {
                EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.random(3, 6, seed, alignment);
                int[] prompt = {toy.boundaryToken()};
                GenerationResult threshold = run(toy, prompt, 6, true, 1, Map.of("threshold", 1.5,
                        "block_length", 3));
                GenerationResult fixed = run(toy, prompt, 6, true, 1, Map.of("decoder", "fixed", "block_length", 3));
                GenerationResult core = new MaskedDiffusionGenerator().generate(TestContexts.context(toy, prompt, 6,
                        TestContexts.greedy(), new int[0], 1, Map.of("block_length", 3)), TokenSink.DISCARD);
                assertArrayEquals(core.tokens(), threshold.tokens());
                assertArrayEquals(core.tokens(), fixed.tokens());
                assertEquals(6, threshold.forwardPasses(), "one token per forward");
            }
        }
    }

    /** §3.5 test (2): credit fusion with alpha = 0 is the threshold decoder, draw for draw. */
    @Test
    void creditWithAlphaZeroEqualsThreshold() {
        for (long seed = 0; seed < 20; seed++) {
            ModelBackend tiny = TinyTransformers.bidirectional(LogitAlignment.NEXT, 3);
            Map<String, Object> base = Map.of("threshold", 0.3, "block_length", 8);
            Map<String, Object> credit = new HashMap<>(base);
            credit.put("decoder", "credit");
            credit.put("credit_alpha", 0.0);
            assertArrayEquals(run(tiny, new int[] {1, 2}, 16, false, seed, base).tokens(),
                    run(tiny, new int[] {1, 2}, 16, false, seed, credit).tokens(), "seed " + seed);
        }
    }

    /** Credit fusion with alpha > 0 changes decisions (so the test above is not vacuous) and still completes. */
    @Test
    void creditFusionChangesDecisions() {
        ModelBackend tiny = TinyTransformers.bidirectional(LogitAlignment.NEXT, 3);
        int differ = 0;
        for (long seed = 0; seed < 10; seed++) {
            GenerationResult a = run(tiny, new int[] {1, 2}, 16, false, seed, Map.of("threshold", 0.3,
                    "block_length", 8));
            GenerationResult b = run(tiny, new int[] {1, 2}, 16, false, seed, Map.of("threshold", 0.3,
                    "block_length", 8, "decoder", "credit", "credit_alpha", 5.0));
            assertEquals(16, b.tokens().length);
            differ += java.util.Arrays.equals(a.tokens(), b.tokens()) ? 0 : 1;
        }
        assertTrue(differ > 0, "alpha = 5 never changed anything");
    }

    /** §3.5 test (3): hierarchy with low_threshold 1 and threshold above 1 commits one token per forward. */
    @Test
    void hierarchyWithHighThresholdsCommitsOnePerForward() {
        EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.random(3, 6, 2, LogitAlignment.SAME);
        GenerationResult r = run(toy, new int[] {toy.boundaryToken()}, 6, false, 3, Map.of("decoder", "hierarchy",
                "low_threshold", 1.0, "threshold", 1.5));
        assertEquals(6, r.forwardPasses());
        assertEquals(6, r.tokens().length);
    }

    /** The hierarchy rule: the best of each run of adjacent masked positions above low_threshold, plus the best. */
    @Test
    void hierarchyPicksTheBestOfEachRun() {
        EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.random(3, 6, 2, LogitAlignment.SAME);
        TokenProposer proposer = new TokenProposer(TestContexts.context(toy, new int[] {4}, 6, TestContexts.greedy(),
                new int[0], 1, Map.of()), DiffusionModel.of(toy, "test"), ConfidenceMetric.MAX_PROBABILITY);
        HierarchyDecoder decoder = new HierarchyDecoder(proposer, 0.95, 0.4);
        int[] positions = {1, 2, 4, 5, 6};
        float[][] logits = {row(0.5), row(0.6), row(0.3), row(0.35), row(0.9)};
        List<Integer> chosen = decoder.decode(0, positions, logits).stream().map(Proposal::position).toList();
        // runs {1,2} -> 2 (0.6 > 0.4); {4,5,6} -> 6 (0.9), which is also the global best
        assertEquals(List.of(2, 6), chosen);
    }

    /** Logits over the toy's 5 ids whose softmax gives symbol 0 probability {@code top} (MASK id 3 at -inf). */
    private static float[] row(double top) {
        float rest = (float) Math.log((1 - top) / 3);
        return new float[] {(float) Math.log(top), rest, rest, Float.NEGATIVE_INFINITY, rest};
    }

    /**
     * Prefix and dual caches on the enumerated joint, whose cache staleness is token-level only: cached slots before
     * the block are final and those after it still MASK when read, so both must equal no cache exactly. This checks
     * the plumbing (rows, positions, hidden stale slots: the toy refuses two visible keys at one position) for both
     * alignments and for a block-causal model.
     */
    @Test
    void cachesMatchRecomputeOnTheEnumeratedJoint() {
        for (LogitAlignment alignment : LogitAlignment.values()) {
            for (long seed = 1; seed <= 3; seed++) {
                EnumeratedJointMaskedBackend[] models = {EnumeratedJointMaskedBackend.random(3, 6, seed, alignment),
                        EnumeratedJointMaskedBackend.random(3, 6, seed, alignment, NativeAttention.BLOCK_CAUSAL, 2)};
                for (EnumeratedJointMaskedBackend toy : models) {
                    int[] prompt = {toy.boundaryToken(), 1};
                    for (String decoder : List.of("threshold", "hierarchy", "credit")) {
                        Map<String, Object> none = new HashMap<>(Map.of("decoder", decoder, "threshold", 0.6,
                                "block_length", toy.card().blockSize() > 0 ? 2 : 2));
                        GenerationResult expected = run(toy, prompt, 5, false, seed, none);
                        for (String cache : List.of("prefix", "dual", "vicinity")) {
                            Map<String, Object> cached = new HashMap<>(none);
                            cached.put("cache", cache);
                            cached.put("cache_update_freq", 2);
                            assertArrayEquals(expected.tokens(), run(toy, prompt, 5, false, seed, cached).tokens(),
                                    toy.card().name() + " " + decoder + " " + cache);
                        }
                    }
                }
            }
        }
    }

    /** §3.5 test (5): after the first EOS, the canvas holds only EOS, and the output stops before it. */
    @Test
    void earlyStopFillsEverythingAfterTheFirstEos() {
        EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.randomVariableLength(3, 6, 8,
                LogitAlignment.SAME);
        int eos = toy.boundaryToken();
        int early = 0;
        for (long seed = 0; seed < 40; seed++) {
            RecordingSink sink = new RecordingSink();
            GenerationResult r = dinfer.generate(TestContexts.context(toy, new int[] {eos}, 6, TestContexts.sampling(),
                    new int[] {eos}, seed, Map.of("threshold", 0.5, "block_length", 2)), sink);
            int[] last = sink.canvases().get(sink.canvases().size() - 1).tokens();
            int firstEos = -1;
            for (int i = 0; i < last.length; i++) {
                if (last[i] == eos && firstEos < 0) {
                    firstEos = i;
                }
                if (firstEos >= 0 && last[i] != toy.maskToken()) {
                    assertEquals(eos, last[i], "non-EOS token after the first EOS, seed " + seed);
                }
            }
            if (firstEos >= 0) {
                early++;
                assertEquals(firstEos, r.tokens().length);
            }
        }
        assertTrue(early > 0, "some samples must contain EOS, or the test proves nothing");
    }

    @Test
    void refusesAnUnknownDecoder() {
        EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.random(3, 3, 1, LogitAlignment.SAME);
        ArborException e = assertThrows(ArborException.class, () -> run(toy, new int[] {4}, 3, true, 1,
                Map.of("decoder", "greedy")));
        assertTrue(e.getMessage().contains("threshold, credit, hierarchy or fixed"), e.getMessage());
    }
}
