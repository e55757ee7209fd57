package dev.arbor.generation.guideddiffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import dev.arbor.testkit.RecordingSink;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class GuidedDiffusionGeneratorTest {
    private final GuidedDiffusionGenerator generator = new GuidedDiffusionGenerator();

    /**
     * METHODS.md §3.9 test (1), second half: a diffusion model that drafts the guide's greedy continuation makes the
     * guided output exactly the guide's greedy output (up to its EOS), with no forced commit, for every cache mode,
     * verify batch and block length (so guide-cache cropping across many steps is exercised).
     */
    @Test
    void withAnOracleDraftTheOutputIsTheGuidesGreedyOutput() {
        int cases = 0;
        for (long seed = 1; seed <= 6; seed++) {
            TestModels.SharedIdGuide guide = new TestModels.SharedIdGuide(
                    EnumeratedJointBackend.randomVariableLength(3, 5, seed));
            int bos = guide.card().bosTokenId().getAsInt();
            int eos = guide.card().eosTokenIds()[0];
            int[] prompt = {bos};
            int[] greedy = TestModels.guideGreedy(guide, prompt, 6);
            assertEquals(eos, greedy[greedy.length - 1], "the guide's greedy output ends with EOS");
            int[] oracle = new int[prompt.length + greedy.length];
            oracle[0] = bos;
            System.arraycopy(greedy, 0, oracle, 1, greedy.length);
            ModelBackend dlm = new TestModels.OracleDiffusionModel(oracle, guide.card().vocabSize(), 3, bos,
                    guide.card().maxPositions());
            for (String cache : List.of("none", "prompt", "committed")) {
                for (int batch : new int[] {32, 2, 1}) {
                    for (int block : new int[] {32, 3}) {
                        Map<String, Object> options = Map.of("guide", TestModels.GUIDE, "cache", cache,
                                "verify_batch_size", batch, "block_length", block);
                        RecordingSink sink = new RecordingSink();
                        GenerationResult r = generator.generate(TestModels.context(dlm, guide, prompt, 6,
                                TestModels.greedy(), new int[] {eos}, 1, options), sink);
                        String where = "seed " + seed + " " + options;
                        assertArrayEquals(Arrays.copyOf(greedy, greedy.length - 1), r.tokens(), where);
                        assertEquals(FinishReason.STOP, r.finishReason(), where);
                        assertEquals(0, r.stats().get("forced_commits"), where);
                        assertArrayEquals(r.tokens(), sink.tokens(), where);
                        cases++;
                    }
                }
            }
        }
        assertEquals(108, cases);
    }

    /**
     * METHODS.md §3.9 tests (1) first half and (2): with a real (non-oracle) diffusion model and the deterministic
     * rule, every emitted token that was not a forced first-draft commit is the guide's greedy choice after the
     * tokens before it; every step decodes at least one token. The sweep must contain both accepted drafts and forced
     * commits, or it would check nothing.
     */
    @Test
    void everyAcceptedTokenIsTheGuidesGreedyChoice() {
        int accepted = 0;
        int forced = 0;
        for (long seed = 1; seed <= 12; seed++) {
            EnumeratedJointMaskedBackend dlm = EnumeratedJointMaskedBackend.randomVariableLength(3, 5, seed,
                    seed % 2 == 0 ? LogitAlignment.SAME : LogitAlignment.NEXT);
            TestModels.SharedIdGuide guide = new TestModels.SharedIdGuide(
                    EnumeratedJointBackend.randomVariableLength(3, 5, 1000 + seed));
            int eos = dlm.boundaryToken();
            for (Supplier<Sampler> samplers : List.of(TestModels.greedy(), TestModels.sampling())) {
                RecordingSink sink = new RecordingSink();
                GenerationResult r = generator.generate(TestModels.context(dlm, guide, new int[] {eos}, 5, samplers,
                        new int[] {eos}, seed, Map.of("guide", TestModels.GUIDE)), sink);
                @SuppressWarnings("unchecked")
                List<Integer> forcedAt = (List<Integer>) r.stats().get("forced_positions");
                int[] prefix = {eos};
                for (int i = 0; i < r.tokens().length; i++) {
                    if (!forcedAt.contains(i)) {
                        float[] row = guide.forward(ForwardRequest.builder(new int[][] {prefix}).lastRowOnly()
                                .build()).logits()[0][0];
                        assertEquals(GuideVerifier.argmax(row), r.tokens()[i], "seed " + seed + " token " + i);
                    }
                    prefix = Arrays.copyOf(prefix, prefix.length + 1);
                    prefix[prefix.length - 1] = r.tokens()[i];
                }
                long previous = 0;
                for (RecordingSink.CanvasEvent c : sink.canvases()) {
                    long decoded = Arrays.stream(c.tokens()).filter(t -> t != dlm.maskToken()).count();
                    assertTrue(decoded > previous, "every step decodes at least one token");
                    previous = decoded;
                }
                assertEquals(sink.canvases().size(), r.forwardPasses(), "one diffusion forward per step");
                assertEquals(r.forwardPasses(), r.stats().get("guide_forward_passes"), "one guide forward per step");
                accepted += (int) r.stats().get("accepted_drafts");
                forced += (int) r.stats().get("forced_commits");
            }
        }
        assertTrue(accepted > 0 && forced > 0, "accepted " + accepted + ", forced " + forced);
    }

    /**
     * FreeCache on the token-level toy model, whose frozen slots hold exactly the tokens recompute would see (the
     * prompt never changes, committed tokens are final): the cached paths must give the uncached output and canvases
     * token for token, for both alignments, bidirectional and block-causal models, all verification rules, greedy and
     * sampling. This checks the cache's
     * positions, logit rows and truncation; the approximation itself is measured in {@link FreeCacheErrorTest}.
     */
    @Test
    void freeCacheIsExactWhereTheFrozenTokensAreFinal() {
        int cachedForwards = 0;
        for (LogitAlignment alignment : LogitAlignment.values()) {
            for (long seed = 1; seed <= 6; seed++) {
                // seeds 5 and 6: a block-causal model (blocks of 2), whose cached suffix ends at the current block
                EnumeratedJointMaskedBackend dlm = seed <= 4
                        ? EnumeratedJointMaskedBackend.random(3, 6, seed, alignment)
                        : EnumeratedJointMaskedBackend.random(3, 6, seed, alignment, NativeAttention.BLOCK_CAUSAL, 2);
                TestModels.SharedIdGuide guide = new TestModels.SharedIdGuide(
                        EnumeratedJointBackend.random(3, 5, 50 + seed));
                int[] prompt = {dlm.boundaryToken(), 0};
                for (String strategy : List.of("deterministic", "topk", "dynamic_threshold")) {
                    for (Supplier<Sampler> samplers : List.of(TestModels.greedy(), TestModels.sampling())) {
                        for (int batch : new int[] {32, 2}) {
                            Map<String, Object> base = Map.of("guide", TestModels.GUIDE, "strategy", strategy,
                                    "acceptance_top_k", 2, "confidence_threshold", 0.3, "verify_batch_size", batch);
                            RecordingSink plainSink = new RecordingSink();
                            GenerationResult plain = generator.generate(TestModels.context(dlm, guide, prompt, 5,
                                    samplers, new int[0], seed, with(base, "cache", "none")), plainSink);
                            for (String cache : List.of("prompt", "committed")) {
                                RecordingSink sink = new RecordingSink();
                                GenerationResult r = generator.generate(TestModels.context(dlm, guide, prompt, 5,
                                        samplers, new int[0], seed, with(base, "cache", cache)), sink);
                                String where = alignment + " seed " + seed + " " + cache + " " + base;
                                assertArrayEquals(plain.tokens(), r.tokens(), where);
                                assertEquals(plainSink.canvases().size(), sink.canvases().size(), where);
                                for (int i = 0; i < sink.canvases().size(); i++) {
                                    assertArrayEquals(plainSink.canvases().get(i).tokens(),
                                            sink.canvases().get(i).tokens(), where);
                                }
                                cachedForwards += (int) r.stats().get("cached_forwards");
                            }
                        }
                    }
                }
            }
        }
        assertTrue(cachedForwards > 0, "the frozen prefix was never read");
    }

    /** Cancellation stops between steps with what was released so far; both models' states are closed either way. */
    @Test
    void cancellationStopsBetweenStepsAndStatesAreClosed() {
        EnumeratedJointMaskedBackend dlm = EnumeratedJointMaskedBackend.random(3, 6, 3, LogitAlignment.SAME);
        EnumeratedJointBackend inner = EnumeratedJointBackend.random(3, 5, 4);
        TestModels.SharedIdGuide guide = new TestModels.SharedIdGuide(inner);
        int[] checks = {0};
        dev.arbor.api.generation.Cancellation afterTwoSteps = () -> ++checks[0] > 2;
        GenerationResult r = generator.generate(new dev.arbor.api.generation.GenerationContext(dlm, null,
                new int[] {dlm.boundaryToken()}, 6, TestModels.greedy(), new int[0], 1, dev.arbor.api.Options.of(
                Map.of("guide", TestModels.GUIDE, "verify_batch_size", 1)), afterTwoSteps,
                new TestModels.Resolver(guide)), TokenSink.DISCARD);
        assertEquals(FinishReason.CANCELLED, r.finishReason());
        assertEquals(2, r.forwardPasses(), "two steps ran");
        assertTrue(r.tokens().length >= 2, "each step commits at least one token");
        assertEquals(0, dlm.openStates(), "the FreeCache state is closed");
        assertEquals(0, inner.openStates(), "the guide's state is closed");
        generator.generate(TestModels.context(dlm, guide, new int[] {dlm.boundaryToken()}, 6, TestModels.greedy(),
                new int[0], 1, Map.of("guide", TestModels.GUIDE)), TokenSink.DISCARD);
        assertEquals(0, dlm.openStates());
        assertEquals(0, inner.openStates());
    }

    @Test
    void theGuideReferenceDefaultsToTheTargetsBackendAndFormat() {
        EnumeratedJointMaskedBackend dlm = EnumeratedJointMaskedBackend.random(3, 4, 1, LogitAlignment.SAME);
        TestModels.SharedIdGuide guide = new TestModels.SharedIdGuide(EnumeratedJointBackend.random(3, 4, 2));
        TestModels.Resolver resolver = new TestModels.Resolver(guide);
        generator.generate(new dev.arbor.api.generation.GenerationContext(dlm, null, new int[] {4}, 4,
                TestModels.greedy(), new int[0], 1, dev.arbor.api.Options.of(Map.of("guide",
                Map.of("path", "/models/g.bin", "options", Map.of("keep_layers", 1)))),
                dev.arbor.api.generation.Cancellation.NEVER, resolver), TokenSink.DISCARD);
        assertEquals(1, resolver.opened.size());
        assertEquals("test", resolver.opened.get(0).backend());
        assertEquals("joint", resolver.opened.get(0).format());
        assertEquals("/models/g.bin", resolver.opened.get(0).path());
        assertEquals(1, resolver.opened.get(0).options().integer("keep_layers", 0, 0, 9));
    }

    @Test
    void refusesACausalModelNamingBothParts() {
        EnumeratedJointBackend causal = EnumeratedJointBackend.random(3, 3, 1);
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestModels.context(causal,
                causal, new int[] {3}, 3, TestModels.greedy(), new int[0], 1, Map.of("guide", TestModels.GUIDE)),
                TokenSink.DISCARD));
        assertEquals(ArborException.Kind.INCOMPATIBLE, e.kind());
        assertTrue(e.getMessage().contains(GuidedDiffusionGenerator.NAME)
                && e.getMessage().contains(causal.card().name()), e.getMessage());
    }

    @Test
    void refusesGuidesThatCannotVerify() {
        EnumeratedJointMaskedBackend dlm = EnumeratedJointMaskedBackend.random(3, 4, 1, LogitAlignment.SAME);
        EnumeratedJointMaskedBackend masked = EnumeratedJointMaskedBackend.random(3, 4, 2, LogitAlignment.NEXT);
        ArborException notCausal = assertThrows(ArborException.class, () -> generator.generate(TestModels.context(
                dlm, masked, new int[] {4}, 4, TestModels.greedy(), new int[0], 1, Map.of("guide", TestModels.GUIDE)),
                TokenSink.DISCARD));
        assertTrue(notCausal.getMessage().contains("autoregressive guide")
                && notCausal.getMessage().contains(masked.card().name()), notCausal.getMessage());
        TestModels.SharedIdGuide noTruncate = new TestModels.SharedIdGuide(EnumeratedJointBackend.random(3, 4, 2),
                Set.of(Capability.BATCH));
        ArborException truncate = assertThrows(ArborException.class, () -> generator.generate(TestModels.context(
                dlm, noTruncate, new int[] {4}, 4, TestModels.greedy(), new int[0], 1,
                Map.of("guide", TestModels.GUIDE)), TokenSink.DISCARD));
        assertTrue(truncate.getMessage().contains("STATE_TRUNCATE"), truncate.getMessage());
        EnumeratedJointBackend smallVocab = EnumeratedJointBackend.random(3, 4, 2); // ids 0..3: the prompt's 4 is out
        ArborException vocab = assertThrows(ArborException.class, () -> generator.generate(TestModels.context(
                dlm, smallVocab, new int[] {4}, 4, TestModels.greedy(), new int[0], 1,
                Map.of("guide", TestModels.GUIDE)), TokenSink.DISCARD));
        assertTrue(vocab.getMessage().contains("share the tokenizer"), vocab.getMessage());
    }

    @Test
    void refusesBadOptionsWithActionableMessages() {
        EnumeratedJointMaskedBackend dlm = EnumeratedJointMaskedBackend.random(3, 4, 1, LogitAlignment.SAME);
        TestModels.SharedIdGuide guide = new TestModels.SharedIdGuide(EnumeratedJointBackend.random(3, 4, 2));
        assertRefused(dlm, guide, Map.of(), "needs a guide model");
        assertRefused(dlm, guide, Map.of("guide", Map.of("file", "/x")), "unknown keys [file]");
        assertRefused(dlm, guide, Map.of("guide", Map.of("backend", "onnxruntime")), "must name a model of the registry");
        assertRefused(dlm, guide, Map.of("guide", "tiny-guide"), "cannot resolve model name 'tiny-guide'");
        assertRefused(dlm, guide, Map.of("guide", TestModels.GUIDE, "strategy", "aggressive"),
                "deterministic (the guide's argmax), topk");
        assertRefused(dlm, guide, Map.of("guide", TestModels.GUIDE, "cache", "sliding"), "prompt (FreeCache");
        assertRefused(dlm, guide, Map.of("guide", TestModels.GUIDE, "verify_batch_size", 0), "between 1 and 4096");
        assertRefused(dlm, guide, Map.of("guide", TestModels.GUIDE, "confidence_threshold", 2), "between 0.0 and 1.0");
    }

    private void assertRefused(ModelBackend dlm, ModelBackend guide, Map<String, Object> options, String expected) {
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestModels.context(dlm, guide,
                new int[] {4}, 4, TestModels.greedy(), new int[0], 1, options), TokenSink.DISCARD));
        assertTrue(e.getMessage().contains(expected), options + ": " + e.getMessage());
    }

    private static Map<String, Object> with(Map<String, Object> base, String key, Object value) {
        Map<String, Object> m = new HashMap<>(base);
        m.put(key, value);
        return m;
    }
}
