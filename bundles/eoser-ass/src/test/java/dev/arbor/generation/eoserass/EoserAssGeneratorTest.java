package dev.arbor.generation.eoserass;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.CanvasOutput;
import dev.arbor.diffusion.ConfidenceMetric;
import dev.arbor.diffusion.DiffusionModel;
import dev.arbor.diffusion.MaskedDiffusionLoop;
import dev.arbor.diffusion.RemaskingPolicy;
import dev.arbor.diffusion.TokenProposer;
import dev.arbor.generation.maskeddiffusion.MaskedDiffusionGenerator;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import dev.arbor.testkit.RecordingSink;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class EoserAssGeneratorTest {
    private final EoserAssGenerator generator = new EoserAssGenerator();

    /**
     * ASS on a 64-token canvas: 6 = log2(64) forwards, one canvas per step, the MASK count after each step falling
     * by 1, 2, 4, 8, 16 and the remaining 33, nothing masked at the end.
     */
    @Test
    void assDecodesTheLengthInLog2Steps() {
        ModelBackend tiny = TinyTransformers.bidirectional(LogitAlignment.NEXT, 3);
        RecordingSink sink = new RecordingSink();
        GenerationResult r = generator.generate(TestContexts.context(tiny, new int[] {1, 5, 9}, 64, TestContexts.greedy(),
                new int[0], 1, Map.of()), sink);
        assertEquals(64, r.tokens().length);
        assertEquals(6, r.forwardPasses());
        int[] expectedMasked = {63, 61, 57, 49, 33, 0};
        assertEquals(6, sink.canvases().size());
        for (int s = 0; s < 6; s++) {
            int[] canvas = sink.canvases().get(s).tokens();
            assertEquals(expectedMasked[s], Arrays.stream(canvas).filter(t -> t == TinyTransformers.MASK).count(),
                    "MASK tokens after step " + s);
        }
        assertEquals(64.0 / 6, (double) r.stats().get("tokens_per_forward"), 1e-12);
    }

    /** EOSER with gamma_min = gamma_max = 1 is plain LLaDA low-confidence decoding: same tokens, same canvases. */
    @Test
    void eoserWithGammaOneEqualsPlainDecoding() {
        MaskedDiffusionGenerator plain = new MaskedDiffusionGenerator();
        int cases = 0;
        for (LogitAlignment alignment : LogitAlignment.values()) {
            for (long seed = 1; seed <= 6; seed++) {
                EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.randomVariableLength(3, 6, seed,
                        alignment);
                for (Supplier<Sampler> samplers : List.of(TestContexts.greedy(), TestContexts.sampling())) {
                    for (Map<String, Object> shape : List.<Map<String, Object>>of(Map.of("steps", 6),
                            Map.of("steps", 3), Map.of("steps", 4, "block_length", 2))) {
                        Map<String, Object> eoserOptions = new HashMap<>(shape);
                        eoserOptions.putAll(Map.of("schedule", "uniform", "gamma_min", 1, "gamma_max", 1));
                        RecordingSink a = new RecordingSink();
                        RecordingSink b = new RecordingSink();
                        GenerationResult x = generator.generate(ctx(model, samplers, seed, eoserOptions), a);
                        GenerationResult y = plain.generate(ctx(model, samplers, seed, shape), b);
                        assertArrayEquals(y.tokens(), x.tokens(), alignment + " seed " + seed + " " + shape);
                        assertEquals(y.forwardPasses(), x.forwardPasses());
                        assertEquals(b.canvases().size(), a.canvases().size());
                        for (int i = 0; i < a.canvases().size(); i++) {
                            assertArrayEquals(b.canvases().get(i).tokens(), a.canvases().get(i).tokens());
                        }
                        cases++;
                    }
                }
            }
        }
        assertEquals(72, cases);
    }

    /**
     * With the ascending schedule and gamma 1 the choice is the core loop's low-confidence choice under the same
     * schedule: the generator equals the loop assembled by hand from the core's pieces.
     */
    @Test
    void assWithGammaOneEqualsTheCoreLoopWithTheSameSchedule() {
        for (long seed = 1; seed <= 8; seed++) {
            EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.randomVariableLength(3, 6, seed,
                    LogitAlignment.SAME);
            GenerationContext context = ctx(model, TestContexts.sampling(), seed, Map.of("gamma_min", 1, "gamma_max", 1));
            GenerationResult x = generator.generate(context, TokenSink.DISCARD);
            DiffusionModel dm = DiffusionModel.of(model, "test");
            Canvas canvas = new Canvas(context.prompt(), 6, model.maskToken());
            TokenProposer proposer = new TokenProposer(context, dm, ConfidenceMetric.MAX_PROBABILITY);
            CanvasOutput output = new CanvasOutput(context, TokenSink.DISCARD, canvas);
            new MaskedDiffusionLoop(dm, proposer, output, context.cancellation()).run(canvas,
                    new MaskedDiffusionLoop.Settings(0, 3, AscendingStepSize.INSTANCE, RemaskingPolicy.LOW_CONFIDENCE));
            assertArrayEquals(output.finish(dm, false, Map.of()).tokens(), x.tokens(), "seed " + seed);
        }
    }

    /**
     * The EOS trap, deterministic (temperature 0): EOS at the last position is the most confident proposal of the
     * first step (0.95), so plain decoding commits it first; EOSER scales it by gamma_min and commits x1 = 0 (0.55)
     * first, and the first EOS appears at a later step.
     */
    @Test
    void eoserCommitsTheFirstEosLaterThanPlainDecoding() {
        int eos = 3;
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.of(2, 4, Map.of(
                List.of(0, 1, eos, eos), 0.5, List.of(1, 0, 1, eos), 0.45, List.of(0, 0, 0, 1), 0.05),
                LogitAlignment.SAME);
        assertEquals(eos, model.boundaryToken());
        Map<String, Object> shape = Map.of("schedule", "uniform", "steps", 4);
        int plainFirst = firstEosStep(model, Map.of("schedule", "uniform", "steps", 4, "eoser", false));
        Map<String, Object> eoser = new HashMap<>(shape);
        eoser.put("gamma_min", 0.01);
        int eoserFirst = firstEosStep(model, eoser);
        assertEquals(1, plainFirst, "plain decoding commits EOS at the first step");
        assertTrue(eoserFirst > plainFirst, "EOSER must delay the first EOS, got step " + eoserFirst);
    }

    private static int firstEosStep(EnumeratedJointMaskedBackend model, Map<String, Object> options) {
        RecordingSink sink = new RecordingSink();
        new EoserAssGenerator().generate(TestContexts.context(model, new int[] {model.boundaryToken()}, 4,
                TestContexts.greedy(), new int[0], 1, options), sink);
        for (RecordingSink.CanvasEvent c : sink.canvases()) {
            if (Arrays.stream(c.tokens()).anyMatch(t -> t == model.boundaryToken())) {
                return c.step();
            }
        }
        return Integer.MAX_VALUE;
    }

    @Test
    void eosFactorRisesFromGammaMinToGammaMax() {
        EosEarlyRejection linear = new EosEarlyRejection(0.4, 1.0, new int[] {1}, EosEarlyRejection.Ramp.LINEAR);
        assertEquals(0.4, linear.factor(0, 4), 1e-12);
        assertEquals(0.6, linear.factor(1, 4), 1e-12);
        assertEquals(1.0, linear.factor(3, 4), 1e-12);
        EosEarlyRejection ass = new EosEarlyRejection(0.0, 1.0, new int[] {1}, EosEarlyRejection.Ramp.ASCENDING);
        // (2^(s+1) - 1) / 2^S for S = 8: the fraction of 256 tokens decoded after step s.
        assertEquals(1.0 / 256, ass.factor(0, 8), 1e-12);
        assertEquals(255.0 / 256, ass.factor(7, 8), 1e-12);
    }

    @Test
    void refusesACausalModelNamingBothParts() {
        EnumeratedJointBackend causal = EnumeratedJointBackend.random(3, 3, 1);
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestContexts.context(causal,
                new int[] {3}, 3, TestContexts.greedy(), new int[0], 1, Map.of()), TokenSink.DISCARD));
        assertEquals(ArborException.Kind.INCOMPATIBLE, e.kind());
        assertTrue(e.getMessage().contains(EoserAssGenerator.NAME) && e.getMessage().contains(causal.card().name()),
                e.getMessage());
    }

    @Test
    void refusesBadOptionsWithActionableMessages() {
        EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 6, 1, LogitAlignment.SAME);
        assertRefused(model, Map.of("schedule", "cosine"), "ass");
        assertRefused(model, Map.of("gamma_min", 0.8, "gamma_max", 0.5), "must not exceed 'gamma_max'");
        assertRefused(model, Map.of("gamma_max", 1.5), "between 0.0 and 1.0");
        assertRefused(model, Map.of("steps", 4), "at most 3 steps");
        assertRefused(model, Map.of("confidence", "neg_entropy"), "eoser=false");
        assertRefused(model, Map.of("eoser", "maybe"), "true or false");
        // allowed: neg_entropy without EOSER, and steps that fit
        generator.generate(ctx(model, TestContexts.greedy(), 1, Map.of("confidence", "neg_entropy", "eoser", false)),
                TokenSink.DISCARD);
        generator.generate(ctx(model, TestContexts.greedy(), 1, Map.of("steps", 2)), TokenSink.DISCARD);
    }

    private void assertRefused(ModelBackend model, Map<String, Object> options, String expected) {
        ArborException e = assertThrows(ArborException.class,
                () -> generator.generate(ctx(model, TestContexts.greedy(), 1, options), TokenSink.DISCARD));
        assertTrue(e.getMessage().contains(expected), options + ": " + e.getMessage());
    }

    private static GenerationContext ctx(ModelBackend model, Supplier<Sampler> samplers, long seed,
                                         Map<String, ?> options) {
        int bos = model.card().bosTokenId().getAsInt();
        return TestContexts.context(model, new int[] {bos}, 6, samplers, new int[0], seed, options);
    }
}
