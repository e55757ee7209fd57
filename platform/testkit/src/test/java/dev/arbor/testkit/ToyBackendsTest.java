package dev.arbor.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ToyBackendsTest {

    private static float[] stateless(TokenHistoryBackend backend, int... tokens) {
        return backend.forward(ForwardRequest.builder(new int[][] {tokens}).lastRowOnly().build()).last(0);
    }

    @Test
    void toyCachedLogitsEqualRecomputedOnesAndDependOnTheWholePrefix() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(20).seed(1).build();
        try (DecodeState state = toy.newState(1)) {
            ForwardResult prefill = toy.forward(ForwardRequest.builder(new int[][] {{3, 4, 5}}).state(state).build());
            assertThat(prefill.logits()[0]).hasNumberOfRows(3);
            assertThat(prefill.logits(0, 1)).isEqualTo(stateless(toy, 3, 4));
            float[] step = toy.forward(ForwardRequest.next(new int[][] {{6}}, state)).last(0);
            assertThat(step).isEqualTo(stateless(toy, 3, 4, 5, 6)).isEqualTo(toy.logitsFor(3, 4, 5, 6));
            assertThat(state.length()).isEqualTo(4);
        }
        assertThat(toy.logitsFor(3, 4, 5, 6)).isNotEqualTo(toy.logitsFor(4, 3, 5, 6));
        assertThat(toy.logitsFor(1)).isNotEqualTo(ToyCausalBackend.builder().vocabSize(20).seed(2).build()
                .logitsFor(1));
        assertThat(toy.openStates()).isZero();
        assertThat(toy.forwardCalls()).isEqualTo(4);
    }

    @Test
    void toyStateOperationsBehaveLikeAKvCache() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        TokenHistoryBackend.TokenState state = (TokenHistoryBackend.TokenState) toy.newState(2);
        toy.forward(ForwardRequest.builder(new int[][] {{1, 2, 3}, {7, 8, 9}}).state(state).build());
        DecodeState fork = state.fork();
        state.truncate(2);
        assertThat(toy.forward(ForwardRequest.next(new int[][] {{5}, {5}}, state)).last(0))
                .isEqualTo(toy.logitsFor(1, 2, 5));
        state.compact(new int[] {0, 2});
        assertThat(state.visibleTokens(1)).containsExactly(7, 5);
        state.selectRows(new int[] {1, 1, 0});
        assertThat(state.batchSize()).isEqualTo(3);
        assertThat(state.visibleTokens(2)).containsExactly(1, 5);
        state.dropRows(new int[] {0});
        assertThat(state.visibleTokens(0)).containsExactly(7, 5);
        assertThat(((TokenHistoryBackend.TokenState) fork).visibleTokens(0)).containsExactly(1, 2, 3);
        fork.close();
        state.close();
        state.close();
        assertThat(toy.openStates()).isZero();
        assertThatThrownBy(state::length).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void toyLeftPaddingIsInvisible() {
        ToyCausalBackend toy = ToyCausalBackend.builder().build();
        ForwardRequest padded = ForwardRequest.builder(new int[][] {{0, 0, 4, 5}, {1, 2, 3, 4}})
                .attention(new AttentionSpec.WithPadding(AttentionSpec.CAUSAL,
                        new boolean[][] {{false, false, true, true}, {true, true, true, true}}))
                .lastRowOnly().build();
        ForwardResult result = toy.forward(padded);
        assertThat(result.last(0)).isEqualTo(toy.logitsFor(4, 5));
        assertThat(result.last(1)).isEqualTo(toy.logitsFor(1, 2, 3, 4));
    }

    @Test
    void toyRefusesWhatItWasBuiltWithout() {
        ToyCausalBackend toy = ToyCausalBackend.builder().name("tiny").maxPositions(4)
                .without(Capability.STATE_FORK, Capability.BATCH).build();
        assertThatThrownBy(() -> toy.newState(2)).isInstanceOf(ArborException.class).hasMessageContaining("BATCH");
        DecodeState state = toy.newState(1);
        assertThatThrownBy(state::fork).isInstanceOf(ArborException.class)
                .hasMessageContaining("STATE_FORK").hasMessageContaining("fork");
        toy.forward(ForwardRequest.builder(new int[][] {{1, 2, 3}}).state(state).build());
        assertThatThrownBy(() -> toy.forward(ForwardRequest.next(new int[][] {{1, 2}}, state)))
                .isInstanceOf(ArborException.class).hasMessageContaining("context of 4 positions");
        assertThatThrownBy(() -> toy.forward(ForwardRequest.builder(new int[][] {{1}})
                .attention(AttentionSpec.FULL).build())).hasMessageContaining("causal");
        state.close();
    }

    @Test
    void enumeratedJointConditionalsMultiplyToTheJoint() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.randomVariableLength(4, 4, 3);
        int bos = joint.boundaryToken();
        assertThat(joint.joint().values().stream().mapToDouble(Double::doubleValue).sum()).isCloseTo(1, within(1e-12));
        assertThat(joint.joint()).hasSize(4 + 16 + 64 + 256);
        assertThat(joint.card().maxPositions()).isEqualTo(6);
        for (Map.Entry<List<Integer>, Double> e : joint.joint().entrySet()) {
            int[] seq = e.getKey().stream().mapToInt(Integer::intValue).toArray();
            int[] input = new int[seq.length + 1];
            input[0] = bos;
            System.arraycopy(seq, 0, input, 1, seq.length);
            float[][] rows = joint.forward(ForwardRequest.builder(new int[][] {input}).build()).logits()[0];
            double logP = 0;
            for (int i = 0; i < seq.length; i++) {
                logP += rows[i][seq[i]];
            }
            logP += rows[seq.length][bos];
            assertThat(logP).isCloseTo(Math.log(e.getValue()), within(1e-5));
            assertThat(joint.logProbability(append(seq, bos))).isCloseTo(Math.log(e.getValue()), within(1e-12));
        }
        double[] first = joint.conditional();
        assertThat(first[bos]).isZero();
        assertThat(joint.prefixProbability()).isCloseTo(1, within(1e-12));
        // After EOS the model is absorbed; histories must start with BOS.
        assertThat(stateless(joint, bos, 1, bos)).containsExactly(Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY,
                Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f);
        assertThatThrownBy(() -> stateless(joint, 1, 2)).isInstanceOf(ArborException.class)
                .hasMessageContaining("BOS");
        assertThatThrownBy(() -> joint.forward(ForwardRequest.builder(new int[][] {{bos}})
                .attention(AttentionSpec.FULL).build())).hasMessageContaining("MDLM");
    }

    @Test
    void explicitJointsAreNormalisedAndZeroPrefixesGetUniformLogits() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.of(2, Map.of(List.of(0), 2.0, List.of(1, 1), 6.0));
        assertThat(joint.probability(0)).isCloseTo(0.25, within(1e-12));
        assertThat(joint.conditional(1)).containsExactly(0, 1, 0);
        assertThat(joint.conditional(0, 0)).containsExactly(1 / 3.0, 1 / 3.0, 1 / 3.0);
        float third = (float) Math.log(1 / 3.0);
        assertThat(stateless(joint, 2, 0, 0)).containsExactly(third, third, third);
        assertThat(joint.maxLength()).isEqualTo(2);
    }

    @Test
    void chiSquareAcceptsTheTruthRejectsABiasAndFailsOnImpossibleCells() {
        double[] p = {0.5, 0.3, 0.2};
        SplittableRandom rng = new SplittableRandom(4);
        long[] fair = new long[3];
        long[] biased = new long[3];
        for (int i = 0; i < 20_000; i++) {
            double u = rng.nextDouble();
            fair[u < 0.5 ? 0 : u < 0.8 ? 1 : 2]++;
            biased[u < 0.53 ? 0 : u < 0.8 ? 1 : 2]++;
        }
        ChiSquare.Result ok = ChiSquare.test(p, fair);
        ChiSquare.assertConsistent(ok, 0.01);
        assertThat(ok.degreesOfFreedom()).isEqualTo(2);
        assertThat(ChiSquare.test(p, biased).pValue()).isLessThan(1e-4);
        assertThat(ChiSquare.test(new double[] {0.5, 0.5, 0}, new long[] {10, 10, 1}).pValue()).isZero();
        // Hand-computed: counts (10, 20) against (15, 15) give chi2 = 25/15 + 25/15 = 3.333, p(df=1) = 0.0679.
        ChiSquare.Result known = ChiSquare.test(new double[] {0.5, 0.5}, new long[] {10, 20});
        assertThat(known.statistic()).isCloseTo(10 / 3.0, within(1e-9));
        assertThat(known.pValue()).isCloseTo(0.067889, within(1e-5));
        assertThat(ChiSquare.bonferroni(0.05, 5)).isCloseTo(0.01, within(1e-15));
        assertThatThrownBy(() -> ChiSquare.assertConsistent(ChiSquare.test(p, biased), 0.01))
                .isInstanceOf(AssertionError.class).hasMessageContaining("chi2=");
    }

    private static int[] append(int[] seq, int token) {
        int[] out = java.util.Arrays.copyOf(seq, seq.length + 1);
        out[seq.length] = token;
        return out;
    }
}
