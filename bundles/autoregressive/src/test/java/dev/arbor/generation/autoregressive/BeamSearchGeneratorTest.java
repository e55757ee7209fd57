package dev.arbor.generation.autoregressive;

import static dev.arbor.generation.autoregressive.TestSamplers.context;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.TokenHistoryBackend.ForwardCall;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class BeamSearchGeneratorTest {
    private final BeamSearchGenerator beam = new BeamSearchGenerator();
    private final AutoregressiveGenerator greedy = new AutoregressiveGenerator();

    private static Map<String, Object> options(Object... keyValues) {
        Map<String, Object> map = new HashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            map.put((String) keyValues[i], keyValues[i + 1]);
        }
        return map;
    }

    @ParameterizedTest
    @ValueSource(longs = {0, 1, 2, 3, 4})
    void oneBeamEqualsGreedy(long seed) {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(12).seed(seed).eos(0, 1.0).build();
        for (int[] prompt : new int[][] {{1}, {4, 2, 9}}) {
            GenerationResult expected = greedy.generate(context(toy, prompt, 20, TestSamplers.greedy(),
                    new int[] {0}, seed, Map.of()), TokenSink.DISCARD);
            GenerationResult actual = beam.generate(context(toy, prompt, 20, TestSamplers.greedy(), new int[] {0},
                    seed, options("num_beams", 1)), TokenSink.DISCARD);
            assertThat(actual.tokens()).isEqualTo(expected.tokens());
            assertThat(actual.finishReason()).isEqualTo(expected.finishReason());
            assertThat(actual.logProbs()).containsExactly(expected.logProbs(), within(1e-6));
        }
        EnumeratedJointBackend joint = EnumeratedJointBackend.randomVariableLength(4, 4, seed);
        int bos = joint.boundaryToken();
        GenerationResult expected = greedy.generate(context(joint, new int[] {bos}, 20, TestSamplers.greedy(),
                new int[] {bos}, 0, Map.of()), TokenSink.DISCARD);
        GenerationResult actual = beam.generate(context(joint, new int[] {bos}, 20, TestSamplers.greedy(),
                new int[] {bos}, 0, Map.of()), TokenSink.DISCARD);
        assertThat(actual.tokens()).isEqualTo(expected.tokens());
    }

    /** The exact best complete sequences of a joint under HF's score (EOS counts in the length), best first. */
    private static List<Map.Entry<List<Integer>, Double>> exactRanking(EnumeratedJointBackend joint, double lp) {
        List<Map.Entry<List<Integer>, Double>> scored = new ArrayList<>();
        joint.joint().forEach((seq, p) -> scored.add(Map.entry(seq, Math.log(p) / Math.pow(seq.size() + 1, lp))));
        scored.sort(Comparator.comparingDouble(e -> -e.getValue()));
        return scored;
    }

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 1.0})
    void enoughBeamsFindTheExactMostProbableSequenceOfAFixedLengthJoint(double lengthPenalty) {
        int greedyMisses = 0;
        for (long seed = 0; seed < 12; seed++) {
            EnumeratedJointBackend joint = EnumeratedJointBackend.random(3, 3, seed);
            int bos = joint.boundaryToken();
            Map.Entry<List<Integer>, Double> best = exactRanking(joint, lengthPenalty).get(0);
            GenerationResult result = beam.generate(context(joint, new int[] {bos}, 10, TestSamplers.greedy(),
                    new int[] {bos}, 0, options("num_beams", 27, "length_penalty", lengthPenalty)),
                    TokenSink.DISCARD);
            assertThat(Arrays.stream(result.tokens()).boxed().toList()).as("seed %d", seed)
                    .isEqualTo(best.getKey());
            assertThat((Double) result.stats().get("score")).isCloseTo(best.getValue(), within(1e-5));
            assertThat(result.finishReason()).isEqualTo(FinishReason.STOP);
            int[] greedyTokens = greedy.generate(context(joint, new int[] {bos}, 10, TestSamplers.greedy(),
                    new int[] {bos}, 0, Map.of()), TokenSink.DISCARD).tokens();
            if (!Arrays.stream(greedyTokens).boxed().toList().equals(best.getKey())) {
                greedyMisses++;
            }
        }
        // The search is not trivially greedy: for some joints greedy misses the best sequence and beam finds it.
        assertThat(greedyMisses).isPositive();
    }

    @Test
    void enoughBeamsFindTheExactBestOfAVariableLengthJoint() {
        for (long seed = 0; seed < 10; seed++) {
            EnumeratedJointBackend joint = EnumeratedJointBackend.randomVariableLength(3, 3, seed);
            int bos = joint.boundaryToken();
            // length_penalty 0 with HF's heuristic (exact when lp = 0), and 1 with the exact "never" bound.
            for (Object[] setting : new Object[][] {{0.0, false}, {1.0, "never"}, {2.0, "never"}}) {
                List<Map.Entry<List<Integer>, Double>> ranking = exactRanking(joint, (Double) setting[0]);
                GenerationResult result = beam.generate(context(joint, new int[] {bos}, 10, TestSamplers.greedy(),
                        new int[] {bos}, 0, options("num_beams", 27, "length_penalty", setting[0],
                                "early_stopping", setting[1], "num_return_sequences", 3)), TokenSink.DISCARD);
                assertThat(Arrays.stream(result.tokens()).boxed().toList()).as("seed %d %s", seed,
                        Arrays.toString(setting)).isEqualTo(ranking.get(0).getKey());
                assertThat(result.stats().get("sequences")).isEqualTo(ranking.subList(0, 3).stream()
                        .map(Map.Entry::getKey).toList());
                @SuppressWarnings("unchecked")
                List<Double> scores = (List<Double>) result.stats().get("sequence_scores");
                for (int i = 0; i < 3; i++) {
                    assertThat(scores.get(i)).isCloseTo(ranking.get(i).getValue(), within(1e-5));
                }
            }
        }
    }

    /**
     * P([0]) = 0.4, P([1,1,1]) = 0.35, P([1,0]) = 0.25. Summed log-probability prefers [0] (-0.92 vs -1.05);
     * divided by the length including EOS (2 vs 4) it prefers [1,1,1] (-0.46 vs -0.26).
     */
    private static EnumeratedJointBackend lengthCase() {
        return EnumeratedJointBackend.of(2, Map.of(List.of(0), 0.4, List.of(1, 1, 1), 0.35, List.of(1, 0), 0.25));
    }

    private GenerationResult runLengthCase(Object lengthPenalty, Object earlyStopping) {
        EnumeratedJointBackend joint = lengthCase();
        return beam.generate(context(joint, new int[] {2}, 10, TestSamplers.greedy(), new int[] {2}, 0,
                options("num_beams", 2, "length_penalty", lengthPenalty, "early_stopping", earlyStopping)),
                TokenSink.DISCARD);
    }

    @Test
    void lengthPenaltyChangesWhichFinishedHypothesisWins() {
        GenerationResult sum = runLengthCase(0.0, "never");
        assertThat(sum.tokens()).containsExactly(0);
        assertThat((Double) sum.stats().get("score")).isCloseTo(Math.log(0.4), within(1e-6));
        GenerationResult normalised = runLengthCase(1.0, "never");
        assertThat(normalised.tokens()).containsExactly(1, 1, 1);
        assertThat((Double) normalised.stats().get("score")).isCloseTo(Math.log(0.35) / 4, within(1e-6));
        assertThat(normalised.finishReason()).isEqualTo(FinishReason.STOP);
    }

    @Test
    void earlyStoppingTrueStopsBeforeALongerBetterHypothesisThatNeverFinds() {
        // With two beams, [0] and [1,0] are finished after step 3 while [1,1,1] is still running.
        GenerationResult early = runLengthCase(1.0, true);
        assertThat(early.tokens()).containsExactly(0);
        assertThat(early.stats()).containsEntry("steps", 3);
        GenerationResult never = runLengthCase(1.0, "never");
        assertThat(never.tokens()).containsExactly(1, 1, 1);
        assertThat(never.stats()).containsEntry("steps", 4);
        // HF's heuristic (false) compares with -1.05/3 = -0.35 > -0.46 and so keeps searching here too.
        assertThat(runLengthCase(1.0, "false").tokens()).containsExactly(1, 1, 1);
    }

    @Test
    void everyStateStrategyGivesTheSameBeams() {
        List<ToyCausalBackend> backends = List.of(
                ToyCausalBackend.builder().vocabSize(10).seed(5).eos(0, 0.8).build(),
                ToyCausalBackend.builder().vocabSize(10).seed(5).eos(0, 0.8).without(Capability.STATE_SELECT_ROWS)
                        .build(),
                ToyCausalBackend.builder().vocabSize(10).seed(5).eos(0, 0.8).without(Capability.BATCH).build());
        List<String> modes = List.of("batched", "forked", "forked");
        GenerationResult reference = beam.generate(context(backends.get(0), new int[] {3, 1}, 12,
                TestSamplers.greedy(), new int[] {0}, 0, options("num_beams", 4, "num_return_sequences", 4,
                        "use_cache", false)), TokenSink.DISCARD);
        assertThat(reference.stats()).containsEntry("state_mode", "stateless");
        for (int i = 0; i < backends.size(); i++) {
            GenerationResult cached = beam.generate(context(backends.get(i), new int[] {3, 1}, 12,
                    TestSamplers.greedy(), new int[] {0}, 0, options("num_beams", 4, "num_return_sequences", 4)),
                    TokenSink.DISCARD);
            assertThat(cached.tokens()).isEqualTo(reference.tokens());
            assertThat(cached.stats().get("sequences")).isEqualTo(reference.stats().get("sequences"));
            assertThat(cached.stats()).containsEntry("state_mode", modes.get(i));
            assertThat(backends.get(i).openStates()).isZero();
        }
        // Without BATCH the stateless path recomputes beam by beam and still agrees.
        ToyCausalBackend single = ToyCausalBackend.builder().vocabSize(10).seed(5).eos(0, 0.8)
                .without(Capability.BATCH, Capability.STATE_FORK, Capability.STATE_SELECT_ROWS).build();
        assertThatThrownBy(() -> beam.generate(context(single, new int[] {3, 1}, 12, TestSamplers.greedy(),
                new int[] {0}, 0, options("num_beams", 4)), TokenSink.DISCARD))
                .isInstanceOf(ArborException.class).hasMessageContaining("selectRows")
                .hasMessageContaining("use_cache=false");
        GenerationResult slow = beam.generate(context(single, new int[] {3, 1}, 12, TestSamplers.greedy(),
                new int[] {0}, 0, options("num_beams", 4, "use_cache", false)), TokenSink.DISCARD);
        assertThat(slow.tokens()).isEqualTo(reference.tokens());
    }

    @Test
    void batchedBeamsUseOneCachedForwardPerStep() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(10).seed(2).build();
        GenerationResult result = beam.generate(context(toy, new int[] {1, 2, 3}, 6, TestSamplers.greedy(), null,
                0, options("num_beams", 3)), TokenSink.DISCARD);
        List<ForwardCall> calls = toy.calls();
        assertThat(result.stats()).containsEntry("steps", 6);
        assertThat(result.forwardPasses()).isEqualTo(6).isEqualTo(calls.size());
        assertThat(calls.get(0)).isEqualTo(new ForwardCall(1, 3, 0, false, 1));
        for (int i = 1; i < calls.size(); i++) {
            assertThat(calls.get(i)).isEqualTo(new ForwardCall(3, 1, 3 + i - 1, false, 3));
        }
        assertThat(result.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(result.tokens()).hasSize(6);
    }

    @Test
    void tokensReachTheSinkOnlyAfterTheSearchEnds() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(10).seed(8).eos(0, 0.5).build();
        List<Integer> sunk = new ArrayList<>();
        AtomicInteger callsAtFirstToken = new AtomicInteger(-1);
        GenerationResult result = beam.generate(context(toy, new int[] {4}, 8, TestSamplers.greedy(),
                new int[] {0}, 0, options("num_beams", 3)), (row, token, selection) -> {
                    callsAtFirstToken.compareAndSet(-1, toy.forwardCalls());
                    assertThat(selection.distribution()[token]).isEqualTo(1f);
                    return sunk.add(token);
                });
        assertThat(callsAtFirstToken.get()).isEqualTo(result.forwardPasses());
        assertThat(sunk).containsExactlyElementsOf(Arrays.stream(result.tokens()).boxed().toList());
        assertThat(result.stats()).containsKeys("score", "sum_logprob");

        AtomicInteger accepted = new AtomicInteger();
        GenerationResult cut = beam.generate(context(toy, new int[] {4}, 8, TestSamplers.greedy(), new int[] {0}, 0,
                options("num_beams", 3)), (row, token, selection) -> accepted.incrementAndGet() < 2);
        assertThat(cut.tokens()).containsExactly(result.tokens()[0], result.tokens()[1]);
        assertThat(cut.finishReason()).isEqualTo(FinishReason.STOP);
    }

    @Test
    void stopTokensAreNotEmittedAndFinishWithStop() {
        EnumeratedJointBackend joint = lengthCase();
        GenerationResult result = runLengthCase(1.0, "never");
        assertThat(result.tokens()).doesNotContain(joint.boundaryToken());
        assertThat(result.logProbs()).hasSize(result.tokens().length);
        assertThat(Arrays.stream(result.logProbs()).sum()).isCloseTo(Math.log(0.35), within(1e-6));
    }

    @Test
    void cancellationReturnsTheBestHypothesisSoFar() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        AtomicInteger checks = new AtomicInteger();
        GenerationContext context = new GenerationContext(toy, null, new int[] {1}, 10, TestSamplers.greedy(),
                null, 0, Options.of(Map.of("num_beams", 2)), () -> checks.incrementAndGet() > 3);
        GenerationResult result = beam.generate(context, TokenSink.DISCARD);
        assertThat(result.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(result.tokens()).hasSize(3);
        assertThat(toy.openStates()).isZero();
    }

    @Test
    void badOptionsAreRefusedWithTheirNames() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        assertThatThrownBy(() -> beam.generate(context(toy, new int[] {1}, 5, TestSamplers.greedy(), null, 0,
                options("early_stopping", "sometimes")), TokenSink.DISCARD))
                .isInstanceOf(ArborException.class).hasMessageContaining("early_stopping")
                .hasMessageContaining("never");
        assertThatThrownBy(() -> beam.generate(context(toy, new int[] {1}, 5, TestSamplers.greedy(), null, 0,
                options("num_beams", 2, "num_return_sequences", 3)), TokenSink.DISCARD))
                .hasMessageContaining("num_return_sequences");
        assertThatThrownBy(() -> beam.generate(context(toy, new int[] {1}, 5, TestSamplers.greedy(), null, 0,
                options("num_beams", 0)), TokenSink.DISCARD)).hasMessageContaining("num_beams");
        assertThatThrownBy(() -> beam.generate(context(toy, new int[64], 5, TestSamplers.greedy(), null, 0,
                options("num_beams", 2)), TokenSink.DISCARD)).hasMessageContaining("prompt has 64 tokens");
        assertThat(toy.forwardCalls()).isZero();
    }
}
