package dev.arbor.generation.speculative;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.speculative.ExactJoint;
import dev.arbor.speculative.Significance;
import dev.arbor.speculative.SpeculativeDecoding;
import dev.arbor.speculative.TestSamplers;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.ToyConstraint;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * End to end through {@link SpeculativeGenerator} (draft opened from options, {@link ModelDrafter} with its own KV
 * state and rollback, one target forward per step): on an enumerable target joint with a different enumerable
 * draft joint over the same vocabulary, the sampled complete sequences follow the target's exact distribution
 * (Pearson chi-square over all 120 sequences, alpha of {@link Significance}), without processors and with a
 * history-dependent chain (repetition penalty then temperature) applied to draft and target rows, where the
 * reference is the exact distribution of plain sampling with that chain; and with a constraint processor
 * ({@code Trait.CONSTRAINS_OUTPUT}) first in the chain, where the reference is the constrained autoregressive
 * distribution (the target's conditionals masked per position and renormalised).
 */
class SpeculativeGeneratorExactnessTest {
    private static final EnumeratedJointBackend TARGET = EnumeratedJointBackend.randomVariableLength(3, 4, 11);
    private static final EnumeratedJointBackend DRAFT = EnumeratedJointBackend.randomVariableLength(3, 4, 97);
    private static final int BOS = TARGET.boundaryToken();
    private final SpeculativeGenerator generator = new SpeculativeGenerator();

    private Map<List<Integer>, Long> sample(Supplier<Sampler> chain, int lookahead, long[] stats) {
        Map<List<Integer>, Long> counts = ExactJoint.newCounts();
        for (long seed : ExactJoint.seeds(Significance.SAMPLES, 7)) {
            GenerationResult r = generator.generate(TestResolvers.context(TARGET, new int[] {BOS}, 10, chain,
                    new int[] {BOS}, seed, Map.of("draft", Map.of("path", "draft.bin"), "lookahead", lookahead),
                    TestResolvers.always(DRAFT)), TokenSink.DISCARD);
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
            counts.merge(r.tokens().length == 0 ? List.of() : toList(r.tokens()), 1L, Long::sum);
            stats[0] += ((Number) r.stats().get(SpeculativeDecoding.DRAFTED)).longValue();
            stats[1] += ((Number) r.stats().get(SpeculativeDecoding.ACCEPTED)).longValue();
        }
        assertThat(TARGET.openStates()).isZero();
        assertThat(DRAFT.openStates()).isZero();
        return counts;
    }

    private static List<Integer> toList(int[] tokens) {
        return java.util.Arrays.stream(tokens).boxed().toList();
    }

    @Test
    void speculativeSamplingFollowsTheTargetJoint() {
        long[] stats = new long[2];
        Map<List<Integer>, Long> counts = sample(() -> new Sampler(List.of(), TestSamplers.INVERSE_CDF), 3, stats);
        ChiSquare.Result result = ChiSquare.test(TARGET.joint(), counts);
        System.out.printf("speculative sampling, no processors: %s, drafted %d, accepted %d%n", result, stats[0],
                stats[1]);
        ChiSquare.assertConsistent(result, Significance.ALPHA);
        // Both outcomes of the accept test happened many times, so the residual path was exercised.
        assertThat(stats[1]).isGreaterThan(10_000);
        assertThat(stats[0] - stats[1]).isGreaterThan(10_000);
        // The draft really differs from the target: its own joint is rejected by the same test.
        assertThat(ChiSquare.test(DRAFT.joint(), counts).pValue()).isLessThan(Significance.ALPHA);
    }

    @Test
    void historyDependentChainIsAppliedIdenticallyToDraftAndTargetPerPosition() {
        List<LogitsProcessor> processors = List.of(TestSamplers.repetitionPenalty(1.6), TestSamplers.temperature(0.8));
        Supplier<Sampler> chain = () -> new Sampler(processors, TestSamplers.INVERSE_CDF);
        Map<List<Integer>, Double> expected = ExactJoint.processed(TARGET, new Sampler(processors,
                TestSamplers.INVERSE_CDF));
        long[] stats = new long[2];
        Map<List<Integer>, Long> counts = sample(chain, 4, stats);
        ChiSquare.Result result = ChiSquare.test(expected, counts);
        System.out.printf("speculative sampling, penalty + temperature chain: %s%n", result);
        ChiSquare.assertConsistent(result, Significance.ALPHA);
        // The chain changes the distribution measurably: the unprocessed joint is rejected by the same counts.
        assertThat(ChiSquare.test(TARGET.joint(), counts).pValue()).isLessThan(Significance.ALPHA);
    }

    @Test
    void constraintIsPartOfTheTargetDistributionSoSpeculativeSamplingStaysExact() {
        assertThat(generator.commitsInOrder()).isTrue();
        ToyConstraint constraint = ToyConstraint.noDoubleZeroNoTrailingTwo(TARGET.maxLength());
        List<LogitsProcessor> processors = List.of(constraint, TestSamplers.temperature(0.9));
        Map<List<Integer>, Double> expected = ExactJoint.processed(TARGET, new Sampler(processors,
                TestSamplers.INVERSE_CDF));
        long[] stats = new long[2];
        Map<List<Integer>, Long> counts = sample(() -> new Sampler(processors, TestSamplers.INVERSE_CDF), 3, stats);
        for (List<Integer> output : counts.keySet()) {
            assertThat(constraint.accepts(output.stream().mapToInt(Integer::intValue).toArray()))
                    .as("output %s is in the language", output).isTrue();
        }
        ChiSquare.Result result = ChiSquare.test(expected, counts);
        System.out.printf("speculative sampling, constraint + temperature: %s, drafted %d, accepted %d%n", result,
                stats[0], stats[1]);
        ChiSquare.assertConsistent(result, Significance.ALPHA);
        // the constrained draft is still a different law, so both outcomes of the accept test were exercised
        assertThat(stats[1]).isGreaterThan(10_000);
        assertThat(stats[0] - stats[1]).isGreaterThan(1_000);
        // power: the unconstrained target law (with the same temperature) is rejected by the same counts
        Map<List<Integer>, Double> unconstrained = ExactJoint.processed(TARGET, new Sampler(
                List.of(TestSamplers.temperature(0.9)), TestSamplers.INVERSE_CDF));
        assertThat(ChiSquare.test(unconstrained, counts).pValue()).isLessThan(Significance.ALPHA);
    }
}
