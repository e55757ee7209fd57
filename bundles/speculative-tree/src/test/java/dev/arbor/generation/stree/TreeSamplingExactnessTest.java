package dev.arbor.generation.stree;

import static dev.arbor.generation.stree.TestSupport.DRAFT;
import static dev.arbor.generation.stree.TestSupport.context;
import static dev.arbor.generation.stree.TestSupport.with;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.ToyConstraint;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

/**
 * Exactness of STree sampling verification (METHODS.md §3.11 honest test 3, §5.5): on an enumerated joint target
 * (3 symbols, sequences of 1..4 symbols: 120 outcomes) with a <i>different</i> enumerated joint as the draft, the
 * sequences sampled by the generator follow the target's exact distribution. Pearson chi-square over all complete
 * sequences ({@link ChiSquare}, cells with expected count below 5 pooled), 100 000 samples per test, family-wise
 * level 0.01 with Bonferroni over the {@value #TESTS} tests of this class (four exactness tests, two power checks).
 * The power checks show the same test rejects deliberately wrong acceptance rules.
 */
class TreeSamplingExactnessTest {
    private static final int TESTS = 6;
    private static final double ALPHA = ChiSquare.bonferroni(0.01, TESTS);
    private static final int SAMPLES = 100_000;

    private static final EnumeratedJointBackend TARGET = EnumeratedJointBackend.randomVariableLength(3, 4, 11);
    private static final EnumeratedJointBackend DRAFT_JOINT = EnumeratedJointBackend.randomVariableLength(3, 4, 4242);

    @Test
    void recursiveRejectionOverSampledSiblingsFollowsTheTargetJoint() {
        Run run = sample(new SpeculativeTreeGenerator(), TestSupport.sampling(),
                with(DRAFT, "depth", 3, "branching", List.of(3, 2)));
        ChiSquare.Result result = report("rrs", ChiSquare.test(TARGET.joint(), run.counts));
        ChiSquare.assertConsistent(result, ALPHA);
        // The draft really differs from the target and the tree really branches: some drafts are rejected, some
        // accepted, and more than one token per step is committed on average.
        assertThat(run.acceptanceRate).isBetween(0.05, 0.95);
        assertThat(run.tokensPerStep).isGreaterThan(1.2);
        assertThat(run.verification).isEqualTo("rrs");
    }

    @Test
    void targetOnlyVerificationFollowsTheTargetJoint() {
        Run run = sample(new SpeculativeTreeGenerator(), TestSupport.sampling(),
                with(DRAFT, "depth", 4, "branching", 2, "max_nodes", 10, "sampling_verification", "target_only"));
        ChiSquare.assertConsistent(report("target_only", ChiSquare.test(TARGET.joint(), run.counts)), ALPHA);
        assertThat(run.tokensPerStep).isGreaterThan(1.2);
        assertThat(run.verification).isEqualTo("target_only");
    }

    /**
     * With a history-dependent processor (repetition penalty) and temperature in the chain, the generator must
     * follow the <i>processed</i> target: p'(x_i | x_<i) = softmax(process(log p(.|x_<i), history x_<i)),
     * enumerated exactly here.
     */
    @Test
    void processorsAreAppliedPerNodeWithTheNodesHistory() {
        LogitsProcessor penalty = TestSupport.repetitionPenalty(2.0);
        LogitsProcessor temperature = TestSupport.temperature(0.8);
        Supplier<Sampler> chain = TestSupport.sampling(penalty, temperature);
        Run run = sample(new SpeculativeTreeGenerator(), chain, with(DRAFT, "depth", 3, "branching", List.of(2, 2)));
        Map<List<Integer>, Double> expected = processedJoint(new Sampler(List.of(penalty, temperature),
                TestSupport.SAMPLE));
        assertThat(expected.values().stream().mapToDouble(Double::doubleValue).sum()).isCloseTo(1.0,
                org.assertj.core.data.Offset.offset(1e-9));
        ChiSquare.assertConsistent(report("rrs, penalty + temperature", ChiSquare.test(expected, run.counts)),
                ALPHA);
        // The processed joint differs from the raw one, so this test would see processors that were skipped.
        assertThat(ChiSquare.test(TARGET.joint(), run.counts).pValue()).isLessThan(ALPHA);
    }

    /**
     * A constraint processor ({@code Trait.CONSTRAINS_OUTPUT}) in the chain masks draft and target rows per node, so
     * the tree keeps the constrained target distribution exactly, and every output is in the language; the
     * unconstrained target joint is rejected by the same counts.
     */
    @Test
    void aConstraintIsPartOfTheTargetSoTreeVerificationStaysExact() {
        assertThat(new SpeculativeTreeGenerator().commitsInOrder()).isTrue();
        ToyConstraint constraint = ToyConstraint.noDoubleZeroNoTrailingTwo(TARGET.maxLength());
        Run run = sample(new SpeculativeTreeGenerator(), TestSupport.sampling(constraint),
                with(DRAFT, "depth", 3, "branching", List.of(3, 2)));
        run.counts.keySet().forEach(output -> assertThat(constraint.accepts(output.stream()
                .mapToInt(Integer::intValue).toArray())).as("output %s", output).isTrue());
        Map<List<Integer>, Double> expected = processedJoint(new Sampler(List.of(constraint), TestSupport.SAMPLE));
        ChiSquare.assertConsistent(report("rrs, constraint", ChiSquare.test(expected, run.counts)), ALPHA);
        assertThat(run.tokensPerStep).isGreaterThan(1.2);
        assertThat(ChiSquare.test(TARGET.joint(), run.counts).pValue()).isLessThan(ALPHA);
    }

    /**
     * Power checks: (1) after a rejected sibling, resample from p instead of the residual norm(max(0, p - q));
     * (2) the right acceptance rule on a tree of the draft's top-k tokens instead of draws from q (the siblings are
     * then not the samples the rule assumes). Both must be rejected by the same chi-square test.
     */
    @Test
    void theTestRejectsWrongAcceptanceRules() {
        Run noResidual = sample(new SpeculativeTreeGenerator(new WrongRule(false, false)), TestSupport.sampling(),
                with(DRAFT, "depth", 3, "branching", List.of(3, 2)));
        assertThat(report("wrong: no residual", ChiSquare.test(TARGET.joint(), noResidual.counts)).pValue())
                .isLessThan(ALPHA);
        Run topK = sample(new SpeculativeTreeGenerator(new WrongRule(true, true)), TestSupport.sampling(),
                with(DRAFT, "depth", 3, "branching", List.of(3, 2)));
        assertThat(report("wrong: rrs on a top-k tree", ChiSquare.test(TARGET.joint(), topK.counts)).pValue())
                .isLessThan(ALPHA);
    }

    private static ChiSquare.Result report(String what, ChiSquare.Result r) {
        System.out.printf("STree exactness [%s]: chi2 = %.1f, dof = %d, p = %.3g, n = %d, alpha = %.4f%n", what,
                r.statistic(), r.degreesOfFreedom(), r.pValue(), r.samples(), ALPHA);
        return r;
    }

    private record Run(Map<List<Integer>, Long> counts, double acceptanceRate, double tokensPerStep,
                       String verification) {
    }

    private static Run sample(SpeculativeTreeGenerator generator, Supplier<Sampler> chain, Map<String, ?> options) {
        TreeOracleBackend target = TreeOracleBackend.of(TARGET, 64);
        TreeOracleBackend draft = TreeOracleBackend.of(DRAFT_JOINT, 64);
        TestSupport.DraftResolver resolver = new TestSupport.DraftResolver(draft);
        int bos = TARGET.boundaryToken();
        Map<List<Integer>, Long> counts = new HashMap<>();
        long drafted = 0;
        long accepted = 0;
        long steps = 0;
        long tokens = 0;
        String verification = null;
        for (int i = 0; i < SAMPLES; i++) {
            GenerationResult r = generator.generate(context(target, resolver, new int[] {bos}, 10, chain,
                    new int[] {bos}, 7_000_000L + i, options), TokenSink.DISCARD);
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
            counts.merge(Arrays.stream(r.tokens()).boxed().toList(), 1L, Long::sum);
            drafted += ((Number) r.stats().get("speculative.drafted")).longValue();
            accepted += ((Number) r.stats().get("speculative.accepted")).longValue();
            steps += ((Number) r.stats().get("speculative.steps")).longValue();
            tokens += r.tokens().length + 1;
            verification = (String) r.stats().get("speculative.verification");
        }
        assertThat(target.openStates()).isZero();
        assertThat(draft.openStates()).isZero();
        return new Run(counts, (double) accepted / drafted, (double) tokens / steps, verification);
    }

    /** The exact distribution of complete sequences when every conditional goes through {@code chain}. */
    private static Map<List<Integer>, Double> processedJoint(Sampler chain) {
        TreeOracleBackend oracle = TreeOracleBackend.of(TARGET);
        int bos = TARGET.boundaryToken();
        Map<List<Integer>, Double> out = new LinkedHashMap<>();
        expand(oracle, chain, new int[] {bos}, 1.0, out);
        return out;
    }

    private static void expand(TreeOracleBackend oracle, Sampler chain, int[] history, double mass,
                               Map<List<Integer>, Double> out) {
        int bos = TARGET.boundaryToken();
        float[] logits = oracle.forward(dev.arbor.api.model.ForwardRequest.builder(new int[][] {history})
                .lastRowOnly().build()).last(0).clone();
        SamplingContext ctx = SamplingContext.seeded(new int[] {bos}, logits.length, 0);
        for (int i = 1; i < history.length; i++) {
            ctx.append(history[i]);
        }
        chain.process(logits, ctx);
        double[] p = SamplingMath.softmax(logits);
        for (int v = 0; v < p.length; v++) {
            if (p[v] == 0) {
                continue;
            }
            if (v == bos) {
                out.merge(Arrays.stream(history, 1, history.length).boxed().toList(), mass * p[v], Double::sum);
            } else {
                int[] next = Arrays.copyOf(history, history.length + 1);
                next[history.length] = v;
                expand(oracle, chain, next, mass * p[v], out);
            }
        }
    }

    /**
     * Deliberately wrong verifiers for the power check: recursive rejection sampling that resamples from the
     * unmodified p after a rejection ({@code residual = false}), or the correct update on a top-k tree
     * ({@code topK = true}).
     */
    private static final class WrongRule implements TreeVerifier {
        private final boolean residual;
        private final boolean topK;

        WrongRule(boolean residual, boolean topK) {
            this.residual = residual;
            this.topK = topK;
        }

        @Override
        public String name() {
            return "wrong";
        }

        @Override
        public boolean sampledChildren() {
            return !topK;
        }

        @Override
        public Verdict verify(View view, RandomGenerator rng) {
            TokenTree tree = view.tree();
            int node = 0;
            int[] path = new int[tree.size()];
            int n = 0;
            while (true) {
                double[] p = view.targetProbabilities(node).clone();
                int[] children = tree.children(node);
                int next = -1;
                double[] q = null;
                if (children.length > 0) {
                    q = view.draftProbabilities(node).clone();
                }
                for (int c : children) {
                    int x = tree.token(c);
                    if (rng.nextDouble() * q[x] < p[x]) {
                        next = c;
                        break;
                    }
                    if (residual) {
                        RecursiveRejection.residual(p, q);
                    }
                    q[x] = 0;
                    RecursiveRejection.normalise(q);
                }
                if (next < 0) {
                    return new Verdict(Arrays.copyOf(path, n), SamplingMath.inverseCdf(p, rng.nextDouble()), node);
                }
                path[n++] = next;
                node = next;
            }
        }
    }
}
