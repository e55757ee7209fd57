package dev.arbor.generation.jacobi;

import static dev.arbor.generation.jacobi.TestSamplers.context;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.TokenHistoryBackend.ForwardCall;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The Jacobi loop's mechanics: greedy equivalence, KV rollback, stops, budget, stats, refusals. */
class JacobiGeneratorTest {
    private final JacobiGenerator jacobi = new JacobiGenerator();
    private final AutoregressiveGenerator autoregressive = new AutoregressiveGenerator();

    /** Greedy SJD equals plain greedy token for token (and logprob for logprob), at every window and init. */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 5, 16})
    void greedyEqualsPlainGreedyOnToy(int window) {
        for (long seed = 0; seed < 4; seed++) {
            ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(24).maxPositions(80).seed(seed)
                    .logitScale(2).build();
            for (Supplier<Sampler> chain : List.of(TestSamplers.greedy(),
                    TestSamplers.greedy(TestSamplers.generatedPenalty(0.7)))) {
                GenerationResult plain = autoregressive.generate(context(toy, new int[] {3, 1, 4}, 40, chain, null,
                        seed, Map.of()), TokenSink.DISCARD);
                for (String init : List.of("random", "repeat")) {
                    GenerationResult sjd = jacobi.generate(context(toy, new int[] {3, 1, 4}, 40, chain, null, seed,
                            Map.of("window", window, "init", init)), TokenSink.DISCARD);
                    assertThat(sjd.tokens()).isEqualTo(plain.tokens());
                    assertThat(sjd.logProbs()).containsExactly(plain.logProbs(), org.assertj.core.data.Offset
                            .offset(1e-9));
                    assertThat(sjd.finishReason()).isEqualTo(plain.finishReason());
                }
            }
            assertThat(toy.openStates()).isZero();
        }
    }

    /** Greedy on a peaked model really accepts drafts, so the equality above also covers multi-token steps. */
    @Test
    void greedyAcceptsRecycledDraftsOnAPredictableModel() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.random(3, 5, 4);
        int bos = joint.boundaryToken();
        GenerationResult plain = autoregressive.generate(context(joint, new int[] {bos}, 10, TestSamplers.greedy(),
                new int[] {bos}, 0, Map.of()), TokenSink.DISCARD);
        GenerationResult sjd = jacobi.generate(context(joint, new int[] {bos}, 10, TestSamplers.greedy(),
                new int[] {bos}, 0, Map.of("window", 4)), TokenSink.DISCARD);
        assertThat(sjd.tokens()).isEqualTo(plain.tokens()).hasSize(5);
        assertThat((long) sjd.stats().get("speculative.accepted")).isPositive();
        assertThat(sjd.forwardPasses()).isLessThan(plain.forwardPasses());
    }

    /**
     * KV rollback: the cached loop (append, truncate after rejections) and the stateless reference path give
     * identical sampled tokens, so truncate left the cache holding exactly the committed tokens.
     */
    @Test
    void cachedLoopEqualsStatelessReference() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(8).maxPositions(64).seed(5).logitScale(4)
                .build();
        int rejections = 0;
        for (long seed = 0; seed < 30; seed++) {
            for (int window : new int[] {2, 4, 7}) {
                GenerationResult cached = jacobi.generate(context(toy, new int[] {1, 2}, 30,
                        TestSamplers.sampling(), null, seed, Map.of("window", window)), TokenSink.DISCARD);
                GenerationResult reference = jacobi.generate(context(toy, new int[] {1, 2}, 30,
                        TestSamplers.sampling(), null, seed, Map.of("window", window, "use_cache", false)),
                        TokenSink.DISCARD);
                assertThat(cached.tokens()).isEqualTo(reference.tokens());
                assertThat(cached.logProbs()).isEqualTo(reference.logProbs());
                assertThat(cached.stats()).containsEntry("speculative.accepted",
                        reference.stats().get("speculative.accepted"));
                long drafted = (long) cached.stats().get("speculative.drafted");
                long accepted = (long) cached.stats().get("speculative.accepted");
                if (accepted < drafted) {
                    rejections++;
                }
            }
        }
        assertThat(rejections).isPositive();
        assertThat(toy.calls()).anyMatch(ForwardCall::stateless).anyMatch(c -> !c.stateless());
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void firstForwardPrefillsPromptAndDraftsThenOneWindowPerStep() {
        ToyCausalBackend toy = ToyCausalBackend.builder().seed(2).build();
        GenerationResult r = jacobi.generate(context(toy, new int[] {1, 2, 3}, 12, TestSamplers.greedy(), null, 0,
                Map.of("window", 4)), TokenSink.DISCARD);
        List<ForwardCall> calls = toy.calls();
        assertThat(calls.get(0)).isEqualTo(new ForwardCall(1, 3 + 3, 0, false, 4));
        int committed = 0;
        for (int i = 1; i < calls.size(); i++) {
            // Every later step feeds the last committed token plus the drafts, on a cache of committed tokens - 1.
            assertThat(calls.get(i).queryLength()).isLessThanOrEqualTo(4);
            assertThat(calls.get(i).stateLengthBefore()).isGreaterThan(committed);
            committed = calls.get(i).stateLengthBefore();
        }
        assertThat(r.tokens()).hasSize(12);
        assertThat(r.forwardPasses()).isEqualTo(calls.size());
    }

    @Test
    void statsUseTheSpeculativeKeysAndAreConsistent() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(6).seed(1).logitScale(5).build();
        GenerationResult r = jacobi.generate(context(toy, new int[] {1}, 40, TestSamplers.sampling(), null, 3,
                Map.of("window", 6)), TokenSink.DISCARD);
        Map<String, Object> s = r.stats();
        assertThat(s).containsKeys("speculative.steps", "speculative.drafted", "speculative.accepted",
                "speculative.acceptance_rate", "speculative.tokens_per_step");
        int steps = (int) s.get("speculative.steps");
        long drafted = (long) s.get("speculative.drafted");
        long accepted = (long) s.get("speculative.accepted");
        assertThat(steps).isEqualTo(r.forwardPasses());
        assertThat(accepted).isBetween(0L, drafted);
        assertThat((double) s.get("speculative.acceptance_rate")).isEqualTo((double) accepted / drafted);
        assertThat((double) s.get("speculative.tokens_per_step")).isEqualTo((double) r.tokens().length / steps);
        // Every step commits the accepted drafts plus one token (budget permitting).
        assertThat(r.tokens().length).isEqualTo(40).isLessThanOrEqualTo(steps + (int) accepted);

        GenerationResult one = jacobi.generate(context(toy, new int[] {1}, 10, TestSamplers.sampling(), null, 3,
                Map.of("window", 1)), TokenSink.DISCARD);
        assertThat(one.stats()).containsEntry("speculative.drafted", 0L).containsEntry("speculative.steps", 10)
                .containsEntry("speculative.tokens_per_step", 1.0);
    }

    @Test
    void stopTokenEndsWithoutBeingEmittedAndSinkCanStop() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(16).seed(3).build();
        int[] free = jacobi.generate(context(toy, new int[] {2}, 12, TestSamplers.greedy(), null, 0,
                Map.of("window", 5)), TokenSink.DISCARD).tokens();
        int stop = free[4];
        int first = 0;
        while (free[first] != stop) {
            first++;
        }
        List<Integer> sunk = new ArrayList<>();
        GenerationResult r = jacobi.generate(context(toy, new int[] {2}, 12, TestSamplers.greedy(),
                new int[] {stop}, 0, Map.of("window", 5)), (row, token, sel) -> sunk.add(token));
        assertThat(r.tokens()).isEqualTo(Arrays.copyOf(free, first));
        assertThat(sunk).containsExactlyElementsOf(Arrays.stream(r.tokens()).boxed().toList());
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);

        AtomicInteger seen = new AtomicInteger();
        GenerationResult stopped = jacobi.generate(context(toy, new int[] {2}, 12, TestSamplers.greedy(), null, 0,
                Map.of("window", 5)), (row, token, sel) -> seen.incrementAndGet() < 3);
        assertThat(stopped.tokens()).isEqualTo(Arrays.copyOf(free, 3));
        assertThat(stopped.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void budgetAndContextEndWithLengthWithoutOverflowing() {
        ToyCausalBackend toy = ToyCausalBackend.builder().maxPositions(10).build();
        for (boolean cache : new boolean[] {true, false}) {
            GenerationResult r = jacobi.generate(context(toy, new int[] {1, 2, 3, 4}, 100, TestSamplers.sampling(),
                    null, 0, Map.of("window", 16, "use_cache", cache)), TokenSink.DISCARD);
            assertThat(r.tokens()).hasSize(6);
            assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        }
        GenerationResult capped = jacobi.generate(context(toy, new int[] {1}, 9, TestSamplers.sampling(), null, 0,
                Map.of("max_new_tokens", 3)), TokenSink.DISCARD);
        assertThat(capped.tokens()).hasSize(3);
        GenerationResult none = jacobi.generate(context(toy, new int[] {1}, 0, TestSamplers.sampling(), null, 0,
                Map.of()), TokenSink.DISCARD);
        assertThat(none.tokens()).isEmpty();
        assertThat(none.forwardPasses()).isZero();
    }

    @Test
    void cancellationIsCheckedOncePerStepAndTheStateIsClosed() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        AtomicInteger checks = new AtomicInteger();
        GenerationContext c = new GenerationContext(toy, null, new int[] {1}, 50, TestSamplers.greedy(), null, 0,
                Options.of(Map.of("window", 1)), () -> checks.incrementAndGet() > 3);
        GenerationResult r = jacobi.generate(c, TokenSink.DISCARD);
        assertThat(r.tokens()).hasSize(3);
        assertThat(r.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void badOptionsAreRefusedNamingTheKey() {
        ToyCausalBackend toy = ToyCausalBackend.builder().bos(1).build();
        for (Object w : new Object[] {0, -3, 257, "wide", 2.5}) {
            assertThatThrownBy(() -> jacobi.generate(context(toy, new int[] {1}, 5, TestSamplers.greedy(), null, 0,
                    Map.of("window", w)), TokenSink.DISCARD))
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining("option 'window'");
        }
        assertThatThrownBy(() -> jacobi.generate(context(toy, new int[] {1}, 5, TestSamplers.greedy(), null, 0,
                Map.of("init", "jacobi")), TokenSink.DISCARD))
                .hasMessageContaining("option 'init' must be 'random'").hasMessageContaining("'repeat'");
        assertThatThrownBy(() -> jacobi.generate(context(toy, new int[] {1}, 5, TestSamplers.greedy(), null, 0,
                Map.of("use_cache", "maybe")), TokenSink.DISCARD)).hasMessageContaining("use_cache");
        assertThatThrownBy(() -> jacobi.generate(context(toy, new int[0], 5, TestSamplers.greedy(), null, 0,
                Map.of()), TokenSink.DISCARD)).hasMessageContaining("prompt is empty").hasMessageContaining("id 1");
        assertThatThrownBy(() -> jacobi.generate(context(toy, new int[] {1, 99}, 5, TestSamplers.greedy(), null, 0,
                Map.of()), TokenSink.DISCARD)).hasMessageContaining("id 99");
        assertThat(toy.forwardCalls()).isZero();
    }

    @Test
    void backendWithoutTruncateIsRefusedUnlessStateless() {
        ToyCausalBackend toy = ToyCausalBackend.builder().name("no-truncate").without(Capability.STATE_TRUNCATE)
                .build();
        assertThatThrownBy(() -> jacobi.generate(context(toy, new int[] {1}, 5, TestSamplers.greedy(), null, 0,
                Map.of()), TokenSink.DISCARD))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("no-truncate").hasMessageContaining("STATE_TRUNCATE")
                .hasMessageContaining("use_cache=false");
        assertThat(jacobi.generate(context(toy, new int[] {1}, 5, TestSamplers.greedy(), null, 0,
                Map.of("use_cache", false)), TokenSink.DISCARD).tokens()).hasSize(5);
        assertThat(jacobi.requirements()).containsExactly(Trait.NEEDS_STATE_TRUNCATE);
    }

    @Test
    void processorsThatDrawRandomnessAreRefusedUnlessSpeculativeSafe() {
        assertThat(jacobi.incompatibility(Set.of(Trait.USES_RANDOMNESS)))
                .contains("SPECULATIVE_SAFE").contains("autoregressive");
        assertThat(jacobi.incompatibility(Set.of(Trait.USES_RANDOMNESS, Trait.SPECULATIVE_SAFE))).isNull();
        assertThat(jacobi.incompatibility(Set.of(Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE))).isNull();
        assertThat(jacobi.incompatibility(Set.of())).isNull();
    }
}
