package dev.arbor.generation.speculative;

import static dev.arbor.generation.speculative.TestResolvers.context;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.speculative.SpeculativeDecoding;
import dev.arbor.speculative.TestSamplers;
import dev.arbor.testkit.TokenHistoryBackend.ForwardCall;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

class SpeculativeGeneratorTest {
    private final SpeculativeGenerator generator = new SpeculativeGenerator();
    private static final Supplier<Sampler> GREEDY = () -> new Sampler(List.of(), TestSamplers.ARGMAX);
    private static final Supplier<Sampler> SAMPLING = () -> new Sampler(List.of(), TestSamplers.INVERSE_CDF);
    private static final Map<String, Object> DRAFT = Map.of("draft", Map.of("path", "draft.bin"));

    private static Map<String, Object> options(Object... kv) {
        Map<String, Object> m = new HashMap<>(DRAFT);
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void greedyEqualsPlainGreedyWithADifferentDraftAndRollsBothStatesBack() {
        for (long seed = 0; seed < 4; seed++) {
            ToyCausalBackend target = ToyCausalBackend.builder().vocabSize(24).seed(seed).build();
            ToyCausalBackend draft = ToyCausalBackend.builder().vocabSize(24).seed(seed + 100).logitScale(0.5)
                    .build();
            int[] prompt = {3, 1, 4, 1, 5};
            int[] plain = new AutoregressiveGenerator().generate(context(target, prompt, 40, GREEDY, null, 0,
                    Map.of(), null), TokenSink.DISCARD).tokens();
            for (int lookahead : new int[] {1, 2, 5, 9}) {
                GenerationResult r = generator.generate(context(target, prompt, 40, GREEDY, null, 0,
                        options("lookahead", lookahead), TestResolvers.always(draft)), TokenSink.DISCARD);
                assertThat(r.tokens()).as("lookahead %d, seed %d", lookahead, seed).isEqualTo(plain);
                assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
                checkStats(r);
            }
            assertThat(target.openStates()).isZero();
            assertThat(draft.openStates()).isZero();
        }
    }

    @Test
    void aDepartedClientStopsTheLoopAtTheNextStep() {
        ToyCausalBackend target = ToyCausalBackend.builder().vocabSize(32).seed(5).build();
        ToyCausalBackend same = ToyCausalBackend.builder().vocabSize(32).seed(5).build();
        AtomicInteger checks = new AtomicInteger();
        GenerationResult r = generator.generate(new dev.arbor.api.generation.GenerationContext(target, null,
                new int[] {1, 2, 3}, 200, GREEDY, null, 0, Options.of(options("lookahead", 4)),
                () -> checks.incrementAndGet() > 3, TestResolvers.always(same)), TokenSink.DISCARD);
        assertThat(r.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(r.tokens()).hasSize(15); // three steps of 4 accepted drafts plus the bonus token, then no more
        assertThat(checks).hasValue(4);
    }

    @Test
    void aPerfectDraftIsAlwaysAcceptedAndEachStepDecidesLookaheadPlusOneTokens() {
        ToyCausalBackend target = ToyCausalBackend.builder().vocabSize(32).seed(5).build();
        ToyCausalBackend same = ToyCausalBackend.builder().vocabSize(32).seed(5).build();
        int[] prompt = {1, 2, 3};
        for (Supplier<Sampler> chain : List.of(GREEDY, SAMPLING)) {
            target.resetCounters();
            GenerationResult r = generator.generate(context(target, prompt, 20, chain, null, 9,
                    options("lookahead", 4), TestResolvers.always(same)), TokenSink.DISCARD);
            assertThat(r.tokens()).hasSize(20);
            assertThat(r.stats()).containsEntry(SpeculativeDecoding.ACCEPTANCE_RATE, 1.0)
                    .containsEntry(SpeculativeDecoding.REJECTED, 0L);
            // 20 tokens in steps of 5 (4 accepted + bonus); the last step drafts only what the budget allows
            assertThat(r.forwardPasses()).isEqualTo(4);
            List<ForwardCall> calls = target.calls();
            assertThat(calls.get(0)).isEqualTo(new ForwardCall(1, 3 + 4, 0, false, 5));
            assertThat(calls.get(1)).isEqualTo(new ForwardCall(1, 1 + 4, 3 + 4, false, 5));
            assertThat((double) r.stats().get(SpeculativeDecoding.TOKENS_PER_STEP)).isEqualTo(5.0);
            // sampling with a perfect draft is plain sampling's distribution; with greedy it is plain greedy
            if (chain == GREEDY) {
                assertThat(r.tokens()).isEqualTo(new AutoregressiveGenerator().generate(context(target, prompt, 20,
                        GREEDY, null, 0, Map.of(), null), TokenSink.DISCARD).tokens());
            }
        }
    }

    @Test
    void verificationTruncatesTheTargetStateToTheAcceptedPrefix() {
        // a draft that agrees with the target in part: same function, flatter (so some drafts pass, some fail)
        ToyCausalBackend target = ToyCausalBackend.builder().vocabSize(16).seed(1).build();
        ToyCausalBackend draft = ToyCausalBackend.builder().vocabSize(16).seed(1).logitScale(0.3).build();
        List<Integer> stepOfToken = new ArrayList<>(); // which target forward each emitted token was decided by
        GenerationResult r = generator.generate(context(target, new int[] {7, 7}, 30, SAMPLING, null, 4,
                options("lookahead", 3), TestResolvers.always(draft)),
                (row, token, selection) -> stepOfToken.add(target.forwardCalls()));
        List<ForwardCall> calls = target.calls();
        assertThat(calls).hasSize(r.forwardPasses());
        int committed = 2;
        for (int i = 0; i < calls.size(); i++) {
            // before every step the state holds exactly the committed tokens but the last one (the prompt at first)
            assertThat(calls.get(i).stateLengthBefore()).as("step %d", i).isEqualTo(i == 0 ? 0 : committed - 1);
            int drafted = calls.get(i).logitRows() - 1;
            assertThat(calls.get(i).queryLength()).isEqualTo((i == 0 ? 2 : 1) + drafted);
            int step = i + 1;
            committed += (int) stepOfToken.stream().filter(s -> s == step).count();
        }
        assertThat(r.tokens()).hasSize(30);
        long accepted = ((Number) r.stats().get(SpeculativeDecoding.ACCEPTED)).longValue();
        assertThat(accepted + r.forwardPasses()).isEqualTo(30);
        assertThat(accepted).isPositive().isLessThan(((Number) r.stats().get(SpeculativeDecoding.DRAFTED)).longValue());
    }

    @Test
    void stopTokensSinkAndBudgetEndTheRowAsPlainDecodingDoes() {
        ToyCausalBackend target = ToyCausalBackend.builder().vocabSize(16).seed(3).build();
        ToyCausalBackend draft = ToyCausalBackend.builder().vocabSize(16).seed(3).build();
        int[] free = new AutoregressiveGenerator().generate(context(target, new int[] {2}, 12, GREEDY, null, 0,
                Map.of(), null), TokenSink.DISCARD).tokens();
        int stop = free[5];
        int first = 0;
        while (free[first] != stop) {
            first++;
        }
        List<Integer> sunk = new ArrayList<>();
        GenerationResult r = generator.generate(context(target, new int[] {2}, 12, GREEDY, new int[] {stop}, 0,
                options(), TestResolvers.always(draft)), (row, token, selection) -> sunk.add(token));
        assertThat(r.tokens()).isEqualTo(java.util.Arrays.copyOf(free, first));
        assertThat(sunk).containsExactlyElementsOf(java.util.Arrays.stream(r.tokens()).boxed().toList());
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);

        AtomicInteger seen = new AtomicInteger();
        GenerationResult stopped = generator.generate(context(target, new int[] {2}, 12, GREEDY, null, 0, options(),
                TestResolvers.always(draft)), (row, token, selection) -> seen.incrementAndGet() < 3);
        assertThat(stopped.tokens()).hasSize(3);
        assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP);

        GenerationResult capped = generator.generate(context(target, new int[] {2}, 12, GREEDY, null, 0,
                options("max_new_tokens", 7), TestResolvers.always(draft)), TokenSink.DISCARD);
        assertThat(capped.tokens()).isEqualTo(java.util.Arrays.copyOf(free, 7));

        ToyCausalBackend small = ToyCausalBackend.builder().vocabSize(16).seed(3).maxPositions(9).build();
        ToyCausalBackend smallDraft = ToyCausalBackend.builder().vocabSize(16).seed(4).maxPositions(6).build();
        GenerationResult edge = generator.generate(context(small, new int[] {1, 2, 3}, 100, SAMPLING, null, 0,
                options("lookahead", 8), TestResolvers.always(smallDraft)), TokenSink.DISCARD);
        assertThat(edge.tokens()).hasSize(6);
        assertThat(edge.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(small.openStates() + smallDraft.openStates() + target.openStates() + draft.openStates()).isZero();
    }

    @Test
    void samplingStatsArePresentAndConsistent() {
        ToyCausalBackend target = ToyCausalBackend.builder().vocabSize(16).seed(8).build();
        ToyCausalBackend draft = ToyCausalBackend.builder().vocabSize(16).seed(9).build();
        for (long seed = 0; seed < 10; seed++) {
            GenerationResult r = generator.generate(context(target, new int[] {1}, 50, SAMPLING, null, seed,
                    options("lookahead", 3), TestResolvers.always(draft)), TokenSink.DISCARD);
            assertThat(r.tokens()).hasSize(50);
            checkStats(r);
            assertThat(r.stats().get(SpeculativeDecoding.DRAFTER)).isEqualTo("draft model draft.bin");
            assertThat(r.stats()).containsEntry(SpeculativeDecoding.LOOKAHEAD_STAT, 3);
        }
    }

    static void checkStats(GenerationResult r) {
        Map<String, Object> s = r.stats();
        assertThat(s).containsKeys(SpeculativeDecoding.STEPS, SpeculativeDecoding.DRAFTED,
                SpeculativeDecoding.ACCEPTED, SpeculativeDecoding.ACCEPTANCE_RATE, SpeculativeDecoding.TOKENS_PER_STEP);
        long drafted = ((Number) s.get(SpeculativeDecoding.DRAFTED)).longValue();
        long accepted = ((Number) s.get(SpeculativeDecoding.ACCEPTED)).longValue();
        int steps = ((Number) s.get(SpeculativeDecoding.STEPS)).intValue();
        assertThat(steps).isEqualTo(r.forwardPasses()).isPositive();
        assertThat(accepted).isBetween(0L, drafted);
        assertThat((double) s.get(SpeculativeDecoding.ACCEPTANCE_RATE))
                .isEqualTo(drafted == 0 ? 0.0 : (double) accepted / drafted);
        double perStep = (double) s.get(SpeculativeDecoding.TOKENS_PER_STEP);
        assertThat(perStep).isGreaterThanOrEqualTo(1.0);
        // on a LENGTH finish every decided token was emitted
        if (r.finishReason() == FinishReason.LENGTH) {
            assertThat(perStep * steps).isCloseTo(r.tokens().length, org.assertj.core.data.Offset.offset(1e-9));
            assertThat(accepted + steps).isEqualTo(r.tokens().length);
        }
    }

    @Test
    void aDraftWithAnotherVocabularyIsRefusedNamingBothSizes() {
        ToyCausalBackend target = ToyCausalBackend.builder().vocabSize(32).name("target-model").build();
        ToyCausalBackend draft = ToyCausalBackend.builder().vocabSize(16).name("small-model").build();
        assertThatThrownBy(() -> generator.generate(context(target, new int[] {1}, 5, GREEDY, null, 0, options(),
                TestResolvers.always(draft)), TokenSink.DISCARD))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("vocabulary of 16 ids").hasMessageContaining("'target-model' has 32");
        assertThat(target.forwardCalls()).isZero();
    }

    @Test
    void processorsThatDrawRandomnessAreRefusedNamingTheTrait() {
        assertThat(generator.incompatibility(Set.of(Trait.USES_RANDOMNESS)))
                .contains("USES_RANDOMNESS").contains("speculative");
        assertThat(generator.incompatibility(Set.of(Trait.USES_RANDOMNESS, Trait.SPECULATIVE_SAFE))).isNull();
        assertThat(generator.incompatibility(Set.of(Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE))).isNull();
        assertThat(generator.incompatibility(Set.of())).isNull();
        assertThat(generator.requirements()).containsExactly(Trait.NEEDS_STATE_TRUNCATE);

        LogitsProcessor noise = new LogitsProcessor() {
            @Override
            public void process(float[] logits, SamplingContext context) {
                logits[0] += (float) context.random().nextDouble();
            }

            @Override
            public Set<Trait> traits() {
                return Set.of(Trait.USES_RANDOMNESS);
            }

            @Override
            public String toString() {
                return "'gumbel-noise'";
            }
        };
        ToyCausalBackend target = ToyCausalBackend.builder().build();
        assertThatThrownBy(() -> generator.generate(context(target, new int[] {1}, 5,
                () -> new Sampler(List.of(noise), TestSamplers.INVERSE_CDF), null, 0, options(),
                TestResolvers.always(target)), TokenSink.DISCARD))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("'gumbel-noise'").hasMessageContaining("speculative decoding")
                .hasMessageContaining("USES_RANDOMNESS");
    }

    @Test
    void badOptionsAreRefusedWithActionableMessages() {
        ToyCausalBackend target = ToyCausalBackend.builder().build();
        TestResolvers.Recording models = TestResolvers.always(target);
        Map<Map<String, Object>, String> cases = new java.util.LinkedHashMap<>();
        cases.put(options("lookahead", 0), "'lookahead' must be between 1 and 64");
        cases.put(options("lookahead", "many"), "'lookahead' must be an integer");
        cases.put(Map.of(), "needs a draft model");
        cases.put(options("draft_layers", 2), "both name a draft model");
        cases.put(Map.of("draft", "model.bin"), "cannot resolve model name 'model.bin'");
        cases.put(Map.of("draft", 7), "'draft' must name a model of the registry");
        cases.put(Map.of("draft", Map.of("format", "llama2c")), "must name a model of the registry");
        cases.put(Map.of("draft", Map.of("path", "d.bin", "layers", 2)), "unknown keys [layers]");
        cases.put(Map.of("draft", Map.of("path", "d.bin", "options", 3)), "'options' must be an object");
        cases.put(Map.of("draft_layers", 0), "'draft_layers' must be between 1");
        cases.put(Map.of("draft_layers", 2), "format 'joint'");
        for (Map.Entry<Map<String, Object>, String> c : cases.entrySet()) {
            assertThatThrownBy(() -> generator.generate(context(target, new int[] {1}, 5, GREEDY, null, 0,
                    c.getKey(), models), TokenSink.DISCARD))
                    .as("options %s", c.getKey())
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining(c.getValue());
        }
        assertThat(models.opened).isEmpty();
        assertThat(target.forwardCalls()).isZero();
    }

    @Test
    void draftLayersOpensTheTargetsOwnModelWithKeepLayers() {
        ToyCausalBackend target = ToyCausalBackend.builder().build();
        ModelRef llama = new ModelRef("onnxruntime", "llama2c", "/m/stories260K.bin",
                Options.of(Map.of("device", "cpu")));
        TestResolvers.Recording models = new TestResolvers.Recording(llama, ref -> target);
        GenerationResult r = generator.generate(context(target, new int[] {1}, 6, GREEDY, null, 0,
                Map.of("draft_layers", 3), models), TokenSink.DISCARD);
        assertThat(r.tokens()).hasSize(6);
        assertThat(models.opened).containsExactly(new ModelRef("onnxruntime", "llama2c", "/m/stories260K.bin",
                Options.of(Map.of("device", "cpu", "keep_layers", 3))));
        assertThat(r.stats().get(SpeculativeDecoding.DRAFTER))
                .isEqualTo("layer-skip draft (the target's first 3 layers)");

        ModelRef fewer = new ModelRef("onnxruntime", "llama2c", "/m/x.bin", Options.of(Map.of("keep_layers", 3)));
        assertThatThrownBy(() -> generator.generate(context(target, new int[] {1}, 6, GREEDY, null, 0,
                Map.of("draft_layers", 3), new TestResolvers.Recording(fewer, ref -> target)), TokenSink.DISCARD))
                .hasMessageContaining("keeps only 3 layers").hasMessageContaining("at most 2");
        assertThatThrownBy(() -> generator.generate(context(target, new int[] {1}, 6, GREEDY, null, 0,
                Map.of("draft_layers", 3), null), TokenSink.DISCARD))
                .hasMessageContaining("give option 'draft' instead");

        // a draft reference takes backend and format from the target unless given, and passes its options on
        TestResolvers.Recording explicit = new TestResolvers.Recording(llama, ref -> target);
        generator.generate(context(target, new int[] {1}, 3, GREEDY, null, 0, Map.of("draft", Map.of("path",
                "/m/draft.bin", "options", Map.of("keep_layers", 2)), "lookahead", 2), explicit), TokenSink.DISCARD);
        assertThat(explicit.opened).containsExactly(new ModelRef("onnxruntime", "llama2c", "/m/draft.bin",
                Options.of(Map.of("keep_layers", 2))));
    }
}
