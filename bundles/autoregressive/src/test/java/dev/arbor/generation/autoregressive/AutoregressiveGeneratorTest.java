package dev.arbor.generation.autoregressive;

import static dev.arbor.generation.autoregressive.TestSamplers.context;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.TokenHistoryBackend.ForwardCall;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class AutoregressiveGeneratorTest {
    private final AutoregressiveGenerator generator = new AutoregressiveGenerator();

    static Stream<Arguments> toyCases() {
        List<Arguments> cases = new ArrayList<>();
        int[][] prompts = {{1}, {3, 7, 2}, {5, 5, 5, 5, 9, 0, 11}};
        for (int[] prompt : prompts) {
            for (int maxNew : new int[] {1, 5, 17}) {
                for (long seed : new long[] {0, 42}) {
                    cases.add(Arguments.of(prompt, maxNew, seed));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest
    @MethodSource("toyCases")
    void cachedAndCacheFreeGiveIdenticalTokensOnToy(int[] prompt, int maxNew, long seed) {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(16).seed(seed).eos(0, 0.5).build();
        for (Supplier<Sampler> chain : List.of(TestSamplers.greedy(), TestSamplers.sampling())) {
            GenerationResult cached = generator.generate(context(toy, prompt, maxNew, chain, new int[] {0}, seed,
                    Map.of()), TokenSink.DISCARD);
            GenerationResult reference = generator.generate(context(toy, prompt, maxNew, chain, new int[] {0}, seed,
                    Map.of("use_cache", false)), TokenSink.DISCARD);
            assertThat(cached.tokens()).isEqualTo(reference.tokens());
            assertThat(cached.logProbs()).isEqualTo(reference.logProbs());
            assertThat(cached.finishReason()).isEqualTo(reference.finishReason());
            assertThat(cached.forwardPasses()).isEqualTo(reference.forwardPasses());
        }
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void cachedAndCacheFreeGiveIdenticalTokensOnEnumeratedJoint() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.randomVariableLength(4, 5, 11);
        int bos = joint.boundaryToken();
        int differentRuns = 0;
        int[] first = null;
        for (int[] prompt : new int[][] {{bos}, {bos, 2}, {bos, 1, 3}}) {
            for (long seed = 0; seed < 20; seed++) {
                GenerationResult cached = generator.generate(context(joint, prompt, 10, TestSamplers.sampling(),
                        new int[] {bos}, seed, Map.of()), TokenSink.DISCARD);
                GenerationResult reference = generator.generate(context(joint, prompt, 10, TestSamplers.sampling(),
                        new int[] {bos}, seed, Map.of("use_cache", "false")), TokenSink.DISCARD);
                assertThat(cached.tokens()).isEqualTo(reference.tokens());
                if (first == null) {
                    first = cached.tokens();
                } else if (!Arrays.equals(first, cached.tokens())) {
                    differentRuns++;
                }
            }
        }
        // Sampling really varies with the seed, so the equality above compared more than one fixed output.
        assertThat(differentRuns).isPositive();
    }

    @Test
    void greedyMatchesAnIndependentReferenceLoop() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(32).seed(9).build();
        int[] history = {4, 8, 15};
        int[] expected = new int[12];
        for (int i = 0; i < expected.length; i++) {
            float[] logits = toy.logitsFor(history);
            int best = 0;
            for (int v = 1; v < logits.length; v++) {
                if (logits[v] > logits[best]) {
                    best = v;
                }
            }
            expected[i] = best;
            history = Arrays.copyOf(history, history.length + 1);
            history[history.length - 1] = best;
        }
        GenerationResult result = generator.generate(context(toy, new int[] {4, 8, 15}, 12, TestSamplers.greedy(),
                null, 0, Map.of()), TokenSink.DISCARD);
        assertThat(result.tokens()).isEqualTo(expected);
        assertThat(result.finishReason()).isEqualTo(FinishReason.LENGTH);
    }

    @Test
    void prefillsOnceThenFeedsOneTokenPerStepThroughTheCache() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        int[] prompt = {1, 2, 3, 4, 5};
        GenerationResult result = generator.generate(context(toy, prompt, 8, TestSamplers.greedy(), null, 0,
                Map.of()), TokenSink.DISCARD);
        List<ForwardCall> calls = toy.calls();
        assertThat(result.forwardPasses()).isEqualTo(8).isEqualTo(calls.size());
        assertThat(calls.get(0)).isEqualTo(new ForwardCall(1, 5, 0, false, 1));
        for (int i = 1; i < calls.size(); i++) {
            assertThat(calls.get(i)).isEqualTo(new ForwardCall(1, 1, 5 + i - 1, false, 1));
        }
        assertThat(result.stats()).containsEntry("prefill_tokens", 5).containsEntry("forward_tokens", 12L);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void cacheFreePathRecomputesEverythingStatelessly() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        GenerationResult result = generator.generate(context(toy, new int[] {1, 2, 3}, 4, TestSamplers.greedy(),
                null, 0, Map.of("use_cache", false)), TokenSink.DISCARD);
        assertThat(toy.calls()).extracting(ForwardCall::stateless).containsOnly(true);
        assertThat(toy.calls()).extracting(ForwardCall::queryLength).containsExactly(3, 4, 5, 6);
        assertThat(result.stats()).containsEntry("forward_tokens", 18L);
    }

    @Test
    void stopTokenEndsTheRowWithoutBeingEmitted() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(16).seed(3).build();
        int[] free = generator.generate(context(toy, new int[] {2}, 10, TestSamplers.greedy(), null, 0, Map.of()),
                TokenSink.DISCARD).tokens();
        int stop = free[3];
        int firstStop = 0;
        while (free[firstStop] != stop) {
            firstStop++;
        }
        List<Integer> sunk = new ArrayList<>();
        GenerationResult result = generator.generate(context(toy, new int[] {2}, 10, TestSamplers.greedy(),
                new int[] {stop}, 0, Map.of()), (row, token, selection) -> sunk.add(token));
        assertThat(result.tokens()).isEqualTo(Arrays.copyOf(free, firstStop));
        assertThat(sunk).containsExactlyElementsOf(Arrays.stream(result.tokens()).boxed().toList());
        assertThat(result.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(result.forwardPasses()).isEqualTo(firstStop + 1);
    }

    @Test
    void maxNewTokensEndsWithLength() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        GenerationResult result = generator.generate(context(toy, new int[] {1}, 6, TestSamplers.sampling(), null,
                5, Map.of()), TokenSink.DISCARD);
        assertThat(result.tokens()).hasSize(6);
        assertThat(result.finishReason()).isEqualTo(FinishReason.LENGTH);
        GenerationResult capped = generator.generate(context(toy, new int[] {1}, 6, TestSamplers.sampling(), null,
                5, Map.of("max_new_tokens", 2)), TokenSink.DISCARD);
        assertThat(capped.tokens()).containsExactly(result.tokens()[0], result.tokens()[1]);
    }

    @Test
    void contextLengthEndsWithLengthWithoutOverflowingTheModel() {
        ToyCausalBackend toy = ToyCausalBackend.builder().maxPositions(10).build();
        for (boolean cache : new boolean[] {true, false}) {
            GenerationResult result = generator.generate(context(toy, new int[] {1, 2, 3, 4}, 100,
                    TestSamplers.greedy(), null, 0, Map.of("use_cache", cache)), TokenSink.DISCARD);
            assertThat(result.tokens()).hasSize(6);
            assertThat(result.finishReason()).isEqualTo(FinishReason.LENGTH);
        }
        // The enumerated joint's context fits exactly BOS + its longest sequence + EOS.
        EnumeratedJointBackend joint = EnumeratedJointBackend.random(3, 4, 1);
        GenerationResult whole = generator.generate(context(joint, new int[] {joint.boundaryToken()}, 100,
                TestSamplers.greedy(), null, 0, Map.of()), TokenSink.DISCARD);
        assertThat(whole.tokens()).hasSize(5).endsWith(joint.boundaryToken());
        assertThat(whole.finishReason()).isEqualTo(FinishReason.LENGTH);
    }

    @Test
    void sinkReturningFalseStopsAndTheStateIsClosed() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        AtomicInteger seen = new AtomicInteger();
        GenerationResult result = generator.generate(context(toy, new int[] {1}, 10, TestSamplers.greedy(), null, 0,
                Map.of()), (row, token, selection) -> seen.incrementAndGet() < 2);
        assertThat(result.tokens()).hasSize(2);
        assertThat(result.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(result.forwardPasses()).isEqualTo(2);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void cancellationIsCheckedOncePerStep() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        AtomicInteger checks = new AtomicInteger();
        GenerationContext context = new GenerationContext(toy, null, new int[] {1}, 10, TestSamplers.greedy(), null,
                0, Options.empty(), () -> checks.incrementAndGet() > 3);
        GenerationResult result = generator.generate(context, TokenSink.DISCARD);
        assertThat(result.tokens()).hasSize(3);
        assertThat(result.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void promptThatFillsTheContextIsRefusedBeforeAnyForward() {
        ToyCausalBackend toy = ToyCausalBackend.builder().name("stories260k").maxPositions(512).build();
        for (int length : new int[] {600, 512}) {
            int[] prompt = new int[length];
            assertThatThrownBy(() -> generator.generate(context(toy, prompt, 5, TestSamplers.greedy(), null, 0,
                    Map.of()), TokenSink.DISCARD))
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining("prompt has " + length + " tokens but stories260k's context is 512");
        }
        assertThat(toy.forwardCalls()).isZero();
        assertThat(generator.generate(context(toy, new int[511], 5, TestSamplers.greedy(), null, 0, Map.of()),
                TokenSink.DISCARD).tokens()).hasSize(1);
    }

    @Test
    void emptyPromptAndBadOptionsAreRefused() {
        ToyCausalBackend toy = ToyCausalBackend.builder().bos(1).build();
        assertThatThrownBy(() -> generator.generate(context(toy, new int[0], 5, TestSamplers.greedy(), null, 0,
                Map.of()), TokenSink.DISCARD)).isInstanceOf(ArborException.class)
                .hasMessageContaining("prompt is empty").hasMessageContaining("id 1");
        assertThatThrownBy(() -> generator.generate(context(toy, new int[] {1}, 5, TestSamplers.greedy(), null, 0,
                Map.of("use_cache", "sometimes")), TokenSink.DISCARD)).isInstanceOf(ArborException.class)
                .hasMessageContaining("use_cache");
        assertThatThrownBy(() -> generator.generate(context(toy, new int[] {1, 99}, 5, TestSamplers.greedy(), null,
                0, Map.of()), TokenSink.DISCARD)).hasMessageContaining("id 99");
    }

    @Test
    void stateIsClosedWhenTheChainThrows() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        Supplier<Sampler> failing = () -> new Sampler(List.of((logits, ctx) -> {
            if (ctx.generatedLength() == 2) {
                throw new IllegalStateException("processor bug");
            }
        }), TestSamplers.ARGMAX);
        assertThatThrownBy(() -> generator.generate(context(toy, new int[] {1}, 5, failing, null, 0, Map.of()),
                TokenSink.DISCARD)).hasMessage("processor bug");
        assertThat(toy.openStates()).isZero();
    }

    /**
     * Ancestral sampling through the loop reproduces the enumerated joint exactly (chi-square over every complete
     * sequence), and the same test rejects a deliberately wrong sampler (temperature 0.7): the power check.
     */
    @Test
    void samplingReproducesTheExactJointAndTheTestHasPower() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.randomVariableLength(3, 3, 5);
        int bos = joint.boundaryToken();
        double alpha = ChiSquare.bonferroni(0.01, 2);
        int samples = 20_000;
        ChiSquare.Result right = sampleJoint(joint, TestSamplers.sampling(), samples);
        ChiSquare.assertConsistent(right, alpha);
        ChiSquare.Result wrong = sampleJoint(joint, TestSamplers.tempered(0.7), samples);
        assertThat(wrong.pValue()).isLessThan(alpha);
        assertThat(bos).isEqualTo(3);
    }

    private ChiSquare.Result sampleJoint(EnumeratedJointBackend joint, Supplier<Sampler> chain, int samples) {
        Map<List<Integer>, Long> counts = new HashMap<>();
        int bos = joint.boundaryToken();
        for (int i = 0; i < samples; i++) {
            GenerationResult r = generator.generate(context(joint, new int[] {bos}, 10, chain, new int[] {bos},
                    1000L + i, Map.of()), TokenSink.DISCARD);
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
            counts.merge(Arrays.stream(r.tokens()).boxed().toList(), 1L, Long::sum);
        }
        return ChiSquare.test(joint.joint(), counts);
    }
}
