package dev.arbor.speculative;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The verification loop itself, with drafters written here: exactness of the accept/reject rule against the exact
 * joint for a sampled draft (its own q) and for deterministic drafts (one-hot q), and power checks that the same
 * chi-square test rejects the deliberately wrong rule "on rejection resample from p instead of the residual".
 */
class VerificationLoopTest {
    private static final EnumeratedJointBackend TARGET = EnumeratedJointBackend.randomVariableLength(3, 4, 11);
    private static final EnumeratedJointBackend DRAFT = EnumeratedJointBackend.randomVariableLength(3, 4, 97);
    private static final int BOS = TARGET.boundaryToken();

    /** Draws each draft token from the draft joint's processed conditional (stateless: full history forwards). */
    static final class JointDrafter implements Drafter {
        private final ModelBackend draft;

        JointDrafter(ModelBackend draft) {
            this.draft = draft;
        }

        @Override
        public Draft propose(DraftRequest request) {
            SamplingContext h = request.history();
            int[] tokens = new int[request.maxTokens()];
            float[][] q = new float[tokens.length][];
            int n = 0;
            while (n < tokens.length) {
                float[] logits = draft.forward(ForwardRequest.builder(new int[][] {h.tokens()}).lastRowOnly()
                        .build()).last(0).clone();
                Selection s = request.sampler().sample(logits, h);
                tokens[n] = s.token();
                q[n] = s.distribution().clone();
                n++;
                h.append(s.token());
                if (request.isStopToken(s.token())) {
                    break;
                }
            }
            return new Draft(Arrays.copyOf(tokens, n), Arrays.copyOf(q, n));
        }

        @Override
        public String describe() {
            return "test joint drafter";
        }
    }

    /** Proposes a fixed function of the history: the next symbols of the cycle 0,1,2 after the last token. */
    static final class CyclicDrafter implements Drafter {
        @Override
        public Draft propose(DraftRequest request) {
            int last = request.history().token(request.history().length() - 1);
            int[] out = new int[request.maxTokens()];
            for (int i = 0; i < out.length; i++) {
                out[i] = (last + 1 + i) % BOS;
            }
            return Draft.deterministic(out);
        }

        @Override
        public String describe() {
            return "cyclic test drafter";
        }
    }

    private static GenerationContext context(long seed, Supplier<Sampler> chain) {
        return new GenerationContext(TARGET, null, new int[] {BOS}, 10, chain, new int[] {BOS}, seed,
                Options.empty(), Cancellation.NEVER);
    }

    private static ChiSquare.Result sample(Function<GenerationContext, GenerationResult> run,
                                           Map<List<Integer>, Double> expected) {
        Map<List<Integer>, Long> counts = ExactJoint.newCounts();
        long[] seeds = ExactJoint.seeds(Significance.SAMPLES, 2024);
        for (long seed : seeds) {
            GenerationResult r = run.apply(context(seed, () -> new Sampler(List.of(), TestSamplers.INVERSE_CDF)));
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
            counts.merge(ExactJoint.list(r.tokens()), 1L, Long::sum);
        }
        return ChiSquare.test(expected, counts);
    }

    @Test
    void sampledDraftsKeepTheTargetJointAndTheWrongRuleIsRejected() {
        ChiSquare.Result right = sample(c -> SpeculativeDecoding.decode(c, TokenSink.DISCARD,
                new JointDrafter(DRAFT), 3), TARGET.joint());
        ChiSquare.Result wrong = sample(c -> SpeculativeDecoding.decodeWithWrongRejection(c, TokenSink.DISCARD,
                new JointDrafter(DRAFT), 3), TARGET.joint());
        System.out.printf("sampled drafts: right rule %s; wrong rule %s%n", right, wrong);
        ChiSquare.assertConsistent(right, Significance.ALPHA);
        assertThat(wrong.pValue()).as("power check: resampling from p on rejection, chi2=%s", wrong.statistic())
                .isLessThan(Significance.ALPHA);
    }

    @Test
    void deterministicDraftsKeepTheTargetJointAndTheWrongRuleIsRejected() {
        ChiSquare.Result right = sample(c -> SpeculativeDecoding.decode(c, TokenSink.DISCARD, new CyclicDrafter(),
                3), TARGET.joint());
        ChiSquare.Result wrong = sample(c -> SpeculativeDecoding.decodeWithWrongRejection(c, TokenSink.DISCARD,
                new CyclicDrafter(), 3), TARGET.joint());
        System.out.printf("deterministic drafts: right rule %s; wrong rule %s%n", right, wrong);
        ChiSquare.assertConsistent(right, Significance.ALPHA);
        assertThat(wrong.pValue()).as("power check: resampling from p (x not removed), chi2=%s", wrong.statistic())
                .isLessThan(Significance.ALPHA);
    }

    @Test
    void greedyAcceptsExactlyTheTargetArgmaxAndEqualsPlainGreedy() {
        Supplier<Sampler> greedy = () -> new Sampler(List.of(), TestSamplers.ARGMAX);
        for (long seed = 0; seed < 5; seed++) {
            int[] history = {BOS};
            int[] expected = new int[0];
            while (true) {
                int[] prefix = Arrays.copyOfRange(history, 1, history.length);
                double[] c = TARGET.conditional(prefix);
                int best = 0;
                for (int v = 1; v < c.length; v++) {
                    if ((float) Math.log(c[v]) > (float) Math.log(c[best])) {
                        best = v;
                    }
                }
                if (best == BOS) {
                    break;
                }
                expected = Arrays.copyOf(expected, expected.length + 1);
                expected[expected.length - 1] = best;
                history = Arrays.copyOf(history, history.length + 1);
                history[history.length - 1] = best;
            }
            GenerationResult r = SpeculativeDecoding.decode(context(seed, greedy), TokenSink.DISCARD,
                    new JointDrafter(DRAFT), 2);
            assertThat(r.tokens()).isEqualTo(expected);
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
        }
    }
}
