package dev.arbor.generation.jacobi;

import static dev.arbor.generation.jacobi.TestSamplers.context;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.jacobi.AcceptanceRule;
import dev.arbor.jacobi.JacobiDecoder;
import dev.arbor.jacobi.TokenRatioRule;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * Exactness of SJD (METHODS.md section 3.1, "honest tests"): sequences sampled through the Jacobi loop follow the
 * target's exact joint on {@link EnumeratedJointBackend}, checked by Pearson's chi-square over every complete
 * sequence. The family is the four consistency tests below, each at level {@code 0.01 / 4} (Bonferroni), so the
 * suite fails by chance with probability at most 1%. Fresh random drafts (one-hot q) and recycled drafts (q = the
 * stale p they were sampled from) both occur in every run with W &gt;= 2. The power check runs the same test on a
 * deliberately wrong acceptance rule and must reject it.
 */
class JacobiExactnessTest {
    private static final int TESTS = 4;
    private static final double ALPHA = ChiSquare.bonferroni(0.01, TESTS);
    private static final int SAMPLES = 100_000;

    private final EnumeratedJointBackend joint = EnumeratedJointBackend.random(3, 4, 7);

    @Test
    void windowTwoWithRandomDraftsFollowsTheJoint() {
        ChiSquare.Result r = sample(Map.of("window", 2), TestSamplers.sampling(), TokenRatioRule.INSTANCE, 1);
        ChiSquare.assertConsistent(r, ALPHA);
    }

    @Test
    void windowFourWithRandomDraftsFollowsTheJoint() {
        ChiSquare.Result r = sample(Map.of("window", 4), TestSamplers.sampling(), TokenRatioRule.INSTANCE, 2);
        ChiSquare.assertConsistent(r, ALPHA);
    }

    @Test
    void windowFourWithRepeatDraftsFollowsTheJointOfVariableLengthSequences() {
        EnumeratedJointBackend variable = EnumeratedJointBackend.randomVariableLength(3, 4, 11);
        ChiSquare.Result r = sample(variable, Map.of("window", 4, "init", "repeat"), TestSamplers.sampling(),
                TokenRatioRule.INSTANCE, 3, variable.joint());
        ChiSquare.assertConsistent(r, ALPHA);
    }

    /**
     * p and q are the processed distributions: with a history-dependent processor the output follows the joint
     * that plain ancestral sampling through the same chain produces (computed exactly here), which holds only if
     * every window position is processed with its own history.
     */
    @Test
    void historyDependentProcessorIsAppliedPerPosition() {
        LogitsProcessor penalty = TestSamplers.generatedPenalty(1.5);
        Map<List<Integer>, Double> expected = processedJoint(joint, penalty);
        assertThat(tv(expected, joint.joint())).as("the processor really changes the joint").isGreaterThan(0.05);
        ChiSquare.Result r = sample(joint, Map.of("window", 5), TestSamplers.sampling(penalty),
                TokenRatioRule.INSTANCE, 4, expected);
        ChiSquare.assertConsistent(r, ALPHA);
    }

    /**
     * Power check: a rule that ignores q (accepts with p(x) as if every draft were deterministic) is wrong for
     * recycled drafts, and the same test at the same level rejects it.
     */
    @Test
    void theTestRejectsAnAcceptanceRuleThatIgnoresTheDraftDistribution() {
        AcceptanceRule ignoresQ = v -> v.targetProbability(v.token());
        ChiSquare.Result r = sample(Map.of("window", 4), TestSamplers.sampling(), ignoresQ, 5);
        assertThat(r.pValue()).as("chi2=%s df=%s", r.statistic(), r.degreesOfFreedom()).isLessThan(ALPHA);
    }

    private ChiSquare.Result sample(Map<String, ?> options, Supplier<Sampler> chain, AcceptanceRule rule, long stream) {
        return sample(joint, options, chain, rule, stream, joint.joint());
    }

    private static ChiSquare.Result sample(EnumeratedJointBackend model, Map<String, ?> options,
                                           Supplier<Sampler> chain, AcceptanceRule rule, long stream,
                                           Map<List<Integer>, Double> expected) {
        int bos = model.boundaryToken();
        Map<List<Integer>, Long> counts = new HashMap<>();
        long recycledRuns = 0;
        for (int i = 0; i < SAMPLES; i++) {
            GenerationResult r = JacobiDecoder.generate(context(model, new int[] {bos}, 10, chain, new int[] {bos},
                    stream * 1_000_003L + i, options), TokenSink.DISCARD, rule);
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
            counts.merge(Arrays.stream(r.tokens()).boxed().toList(), 1L, Long::sum);
            if ((long) r.stats().get("speculative.drafted") > 0) {
                recycledRuns++;
            }
        }
        assertThat(recycledRuns).isPositive();
        assertThat(model.openStates()).isZero();
        return ChiSquare.test(expected, counts);
    }

    /** The exact joint of ancestral sampling from the model's conditionals after {@code processor}. */
    static Map<List<Integer>, Double> processedJoint(EnumeratedJointBackend model, LogitsProcessor processor) {
        Map<List<Integer>, Double> out = new LinkedHashMap<>();
        expand(model, processor, new ArrayList<>(), 1.0, out);
        return out;
    }

    private static void expand(EnumeratedJointBackend model, LogitsProcessor processor, List<Integer> prefix,
                               double mass, Map<List<Integer>, Double> out) {
        int bos = model.boundaryToken();
        int[] u = prefix.stream().mapToInt(Integer::intValue).toArray();
        double[] c = model.conditional(u);
        float[] logits = new float[c.length];
        for (int v = 0; v < c.length; v++) {
            logits[v] = (float) Math.log(c[v]);
        }
        SamplingContext history = new SamplingContext(new int[] {bos}, c.length, new SplittableRandom(0));
        for (int t : u) {
            history.append(t);
        }
        processor.process(logits, history);
        double[] p = SamplingMath.softmax(logits);
        if (p[bos] > 0) {
            out.merge(List.copyOf(prefix), mass * p[bos], Double::sum);
        }
        for (int s = 0; s < bos; s++) {
            if (p[s] > 0) {
                prefix.add(s);
                expand(model, processor, prefix, mass * p[s], out);
                prefix.remove(prefix.size() - 1);
            }
        }
    }

    private static double tv(Map<List<Integer>, Double> a, Map<List<Integer>, Double> b) {
        Map<List<Integer>, Double> diff = new HashMap<>(a);
        b.forEach((k, v) -> diff.merge(k, -v, Double::sum));
        return diff.values().stream().mapToDouble(Math::abs).sum() / 2;
    }
}
