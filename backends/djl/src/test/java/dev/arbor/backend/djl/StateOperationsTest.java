package dev.arbor.backend.djl;

import static dev.arbor.backend.djl.DjlTestSupport.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.BaseNDManager;
import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.StateWrite;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every {@link DecodeState} operation of the djl backend against recomputation without a cache (the stateless
 * forward of the same tokens at the same positions): cached decoding, truncate, compact, fork and row selection.
 */
class StateOperationsTest {
    private static final double TOL = 1e-4;
    private static final int[] SEQ = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376};
    private static ModelBackend model;

    @BeforeAll
    static void open() {
        model = DjlTestSupport.stories260k();
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    /** Cache-free logits of the last of {@code tokens} placed at {@code positions}. */
    private static float[] recompute(int[] tokens, int[] positions) {
        return model.forward(ForwardRequest.builder(new int[][] {tokens}).positions(new int[][] {positions})
                .lastRowOnly().build()).last(0);
    }

    private static float[] recompute(int... tokens) {
        int[] pos = new int[tokens.length];
        Arrays.setAll(pos, i -> i);
        return recompute(tokens, pos);
    }

    private static float[] step(DecodeState state, int... tokens) {
        return model.forward(ForwardRequest.next(new int[][] {tokens}, state)).last(0);
    }

    @Test
    void cachedDecodingAgreesWithRecomputeAtEveryStep() {
        try (DecodeState state = model.newState(1)) {
            step(state, SEQ[0]);
            for (int i = 1; i < SEQ.length; i++) {
                float[] cached = step(state, SEQ[i]);
                assertThat(maxAbsDiff(cached, recompute(Arrays.copyOf(SEQ, i + 1)))).as("step %d", i)
                        .isLessThanOrEqualTo(TOL);
            }
            assertThat(state.length()).isEqualTo(SEQ.length);
        }
    }

    @Test
    void aMultiTokenPrefillEqualsTokenByToken() {
        try (DecodeState a = model.newState(1); DecodeState b = model.newState(1)) {
            float[] prefill = step(a, SEQ);
            float[] last = null;
            for (int t : SEQ) {
                last = step(b, t);
            }
            assertThat(maxAbsDiff(prefill, last)).isLessThanOrEqualTo(TOL);
        }
    }

    @Test
    void truncateRewindsToRecompute() {
        try (DecodeState state = model.newState(1)) {
            step(state, SEQ);
            state.truncate(4);
            assertThat(state.length()).isEqualTo(4);
            float[] afterRewind = step(state, 999 % 512);
            int[] expected = {SEQ[0], SEQ[1], SEQ[2], SEQ[3], 999 % 512};
            assertThat(maxAbsDiff(afterRewind, recompute(expected))).isLessThanOrEqualTo(TOL);
            assertThatThrownBy(() -> state.truncate(99)).isInstanceOf(ArborException.class)
                    .hasMessageContaining("outside [0, 5]");
        }
    }

    /**
     * Compacting the cache equals hiding the dropped slots: the cache-free recompute of all ten tokens (causal) plus
     * the new one, which sees only the kept slots and itself (Explicit mask) at the next default position.
     */
    @Test
    void compactEqualsRecomputeThatHidesTheDroppedSlots() {
        try (DecodeState state = model.newState(1)) {
            step(state, SEQ);
            int[] keep = {0, 1, 4, 5, 8};
            state.compact(keep);
            assertThat(state.length()).isEqualTo(keep.length);
            float[] cached = step(state, 300);

            int n = SEQ.length;
            int[] tokens = Arrays.copyOf(SEQ, n + 1);
            tokens[n] = 300;
            int[] positions = new int[n + 1];
            Arrays.setAll(positions, i -> i);
            positions[n] = keep.length;
            java.util.BitSet[][] visible = new java.util.BitSet[1][n + 1];
            for (int q = 0; q < n; q++) {
                visible[0][q] = new java.util.BitSet();
                visible[0][q].set(0, q + 1);
            }
            visible[0][n] = new java.util.BitSet();
            for (int k : keep) {
                visible[0][n].set(k);
            }
            visible[0][n].set(n);
            float[] recomputed = model.forward(ForwardRequest.builder(new int[][] {tokens})
                    .positions(new int[][] {positions})
                    .attention(new dev.arbor.api.model.AttentionSpec.Explicit(visible))
                    .lastRowOnly().build()).last(0);
            assertThat(maxAbsDiff(cached, recomputed)).isLessThanOrEqualTo(TOL);
            assertThatThrownBy(() -> state.compact(new int[] {3, 2})).isInstanceOf(ArborException.class)
                    .hasMessageContaining("strictly ascending");
        }
    }

    @Test
    void forkedStatesDivergeIndependently() {
        try (DecodeState base = model.newState(1)) {
            step(base, Arrays.copyOf(SEQ, 5));
            try (DecodeState twin = base.fork()) {
                float[] a = step(base, 300);
                float[] b = step(twin, 301);
                float[] b2 = step(twin, 302);
                assertThat(maxAbsDiff(a, recompute(SEQ[0], SEQ[1], SEQ[2], SEQ[3], SEQ[4], 300)))
                        .isLessThanOrEqualTo(TOL);
                assertThat(maxAbsDiff(b, recompute(SEQ[0], SEQ[1], SEQ[2], SEQ[3], SEQ[4], 301)))
                        .isLessThanOrEqualTo(TOL);
                assertThat(maxAbsDiff(b2, recompute(SEQ[0], SEQ[1], SEQ[2], SEQ[3], SEQ[4], 301, 302)))
                        .isLessThanOrEqualTo(TOL);
                assertThat(base.length()).isEqualTo(6);
                assertThat(twin.length()).isEqualTo(7);
            }
            // closing the fork leaves the original usable
            float[] after = step(base, 303);
            assertThat(maxAbsDiff(after, recompute(SEQ[0], SEQ[1], SEQ[2], SEQ[3], SEQ[4], 300, 303)))
                    .isLessThanOrEqualTo(TOL);
        }
    }

    @Test
    void selectRowsReordersAndDuplicatesBatchRows() {
        int[][] rows = {{1, 403, 407}, {1, 300, 301}};
        try (DecodeState state = model.newState(2)) {
            model.forward(ForwardRequest.builder(rows).state(state).build());
            state.selectRows(new int[] {1, 1, 0});
            assertThat(state.batchSize()).isEqualTo(3);
            var out = model.forward(ForwardRequest.next(new int[][] {{5}, {6}, {7}}, state));
            assertThat(maxAbsDiff(out.last(0), recompute(1, 300, 301, 5))).isLessThanOrEqualTo(TOL);
            assertThat(maxAbsDiff(out.last(1), recompute(1, 300, 301, 6))).isLessThanOrEqualTo(TOL);
            assertThat(maxAbsDiff(out.last(2), recompute(1, 403, 407, 7))).isLessThanOrEqualTo(TOL);
            state.dropRows(new int[] {0});
            assertThat(state.batchSize()).isEqualTo(2);
        }
    }

    @Test
    void writeNoneReadsTheStateButLeavesItUnchanged() {
        try (DecodeState state = model.newState(1)) {
            step(state, 1, 403, 407);
            float[] peek = model.forward(ForwardRequest.builder(new int[][] {{261}}).state(state)
                    .write(StateWrite.NONE).build()).last(0);
            assertThat(state.length()).isEqualTo(3);
            assertThat(maxAbsDiff(peek, recompute(1, 403, 407, 261))).isLessThanOrEqualTo(TOL);
        }
    }

    /**
     * StateWrite.At (Fast-dLLM's sub-block cache): re-decoding slots 3 and 4 with other tokens overwrites exactly
     * their keys and values, like the pure-Java reference model does, and later steps see the new contents.
     */
    @Test
    void writeAtOverwritesSlotsLikeTheReferenceModel() {
        try (dev.arbor.models.llama2c.Llama2cReferenceModel reference = dev.arbor.models.llama2c.Llama2cReferenceModel
                .open(dev.arbor.testkit.SharedModels.require("stories260K/stories260K.bin"));
             DecodeState a = model.newState(1); DecodeState b = reference.newState(1)) {
            int[] prefix = Arrays.copyOf(SEQ, 6);
            step(a, prefix);
            reference.forward(ForwardRequest.next(new int[][] {prefix}, b));
            ForwardRequest.Builder rewrite = ForwardRequest.builder(new int[][] {{300, 301}}).positions(
                    new int[][] {{3, 4}}).write(new StateWrite.At(new int[] {3, 4}));
            float[][] djlRows = model.forward(rewrite.state(a).build()).logits()[0];
            float[][] refRows = reference.forward(rewrite.state(b).build()).logits()[0];
            for (int r = 0; r < djlRows.length; r++) {
                assertThat(maxAbsDiff(djlRows[r], refRows[r])).as("rewrite row %d", r).isLessThanOrEqualTo(TOL);
            }
            assertThat(a.length()).isEqualTo(6);
            float[] next = step(a, 261);
            float[] want = reference.forward(ForwardRequest.next(new int[][] {{261}}, b)).last(0);
            assertThat(maxAbsDiff(next, want)).as("the step after the rewrite").isLessThanOrEqualTo(TOL);
            // and the overwritten cache differs from the original one (the write did something)
            assertThat(maxAbsDiff(next, recompute(1, 403, 407, 261, 378, 432, 261))).isGreaterThan(1e-3);
            assertThatThrownBy(() -> model.forward(ForwardRequest.builder(new int[][] {{1}}).state(a)
                    .write(new StateWrite.At(new int[] {7})).build())).isInstanceOf(ArborException.class)
                    .hasMessageContaining("outside the state's 7 slots");
            assertThat(model.card().supports(dev.arbor.api.model.Capability.STATE_WRITE_AT)).isTrue();
        }
    }

    /** A long run keeps exactly one KV generation alive: no native tensor accumulates per step. */
    @Test
    void aLongRunDoesNotAccumulateNativeTensors() {
        try (DecodeState state = model.newState(1)) {
            DjlDecodeState s = (DjlDecodeState) state;
            step(state, 1);
            int token = 1;
            int after10 = -1;
            for (int i = 0; i < 300; i++) {
                token = DjlTestSupport.argmax(step(state, token));
                if (i == 10) {
                    after10 = managed(s);
                }
            }
            assertThat(managed(s)).isEqualTo(after10);
            assertThat(managed(s)).isLessThanOrEqualTo(2 * 5 + 2); // K and V per layer (plus sub-manager slack)
        }
    }

    /** Several requests decode at once, each with its own state, and get exactly what each gets alone. */
    @Test
    void concurrentRequestsWithTheirOwnStatesAgreeWithSequentialOnes() throws Exception {
        int[] starts = {403, 300, 261, 378};
        int[][] alone = new int[starts.length][];
        for (int i = 0; i < starts.length; i++) {
            alone[i] = greedy(starts[i]);
        }
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(4);
        try {
            java.util.List<java.util.concurrent.Future<int[]>> futures = new java.util.ArrayList<>();
            for (int s : starts) {
                futures.add(pool.submit(() -> greedy(s)));
            }
            for (int i = 0; i < starts.length; i++) {
                assertThat(futures.get(i).get()).containsExactly(alone[i]);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static int[] greedy(int start) {
        int[] out = new int[40];
        try (DecodeState state = model.newState(1)) {
            int token = DjlTestSupport.argmax(step(state, 1, start));
            for (int i = 0; i < out.length; i++) {
                out[i] = token;
                token = DjlTestSupport.argmax(step(state, token));
            }
        }
        return out;
    }

    private static int managed(DjlDecodeState s) {
        return ((BaseNDManager) s.manager()).getManagedArrays().size();
    }

    @Test
    void closedStatesAndForeignStatesAreRefusedClearly() {
        DecodeState state = model.newState(1);
        state.close();
        assertThatThrownBy(() -> step(state, 1)).isInstanceOf(ArborException.class).hasMessageContaining("closed");
        try (ModelBackend other = DjlTestSupport.stories260k(); DecodeState foreign = other.newState(1)) {
            assertThatThrownBy(() -> step(foreign, 1)).isInstanceOf(ArborException.class)
                    .hasMessageContaining("not created by this backend");
        }
    }
}
