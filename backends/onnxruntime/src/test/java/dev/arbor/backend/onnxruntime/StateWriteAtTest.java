package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.model.StateWrite;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link StateWrite.At} on the attention-bias graph (stories260K through format llama2c): rewriting cached slots
 * gives the logits of a stateless recompute of the rewritten sequence, and later tokens read the rewritten entries.
 * The caller hides the slots being rewritten (and any stale slot) through the attention spec, as Fast-dLLM's
 * sub-block cache does.
 */
class StateWriteAtTest {
    private static final double TOL = 1e-4;
    private static final int[] SEQ = {1, 403, 407, 261, 378, 280, 410, 263, 309, 272};
    private static final int[] REWRITE = {284, 413, 267};
    private static final int FROM = 6;
    @TempDir
    static Path cache;
    private static ModelBackend backend;

    @BeforeAll
    static void open() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        backend = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString()))));
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    /** Visibility over {@code stateLength} slots then {@code lq} new tokens: {@code slots} plus new tokens causally. */
    private static AttentionSpec.Explicit seeing(BitSet slots, int stateLength, int lq) {
        BitSet[][] visible = new BitSet[1][lq];
        for (int q = 0; q < lq; q++) {
            BitSet bits = (BitSet) slots.clone();
            bits.set(stateLength, stateLength + q + 1);
            visible[0][q] = bits;
        }
        return new AttentionSpec.Explicit(visible);
    }

    private static int[] range(int from, int to) {
        int[] r = new int[to - from];
        Arrays.setAll(r, i -> from + i);
        return r;
    }

    @Test
    void biasGraphOffersStateWriteAt() {
        assertThat(backend.card().capabilities()).contains(Capability.STATE_WRITE_AT);
    }

    @Test
    void rewrittenSlotsEqualAStatelessRecomputeOfTheRewrittenSequence() {
        int[] rewritten = SEQ.clone();
        System.arraycopy(REWRITE, 0, rewritten, FROM, REWRITE.length);
        int[] prefix = Arrays.copyOf(rewritten, FROM + REWRITE.length);
        float[][][] reference = backend.forward(ForwardRequest.builder(new int[][] {prefix}).build()).logits();
        try (DecodeState state = backend.newState(1)) {
            backend.forward(ForwardRequest.builder(new int[][] {SEQ}).state(state).build());
            // The rewrite sees slots 0..5 only: 6..8 are being rewritten, 9 holds keys computed from the old tokens.
            BitSet kept = new BitSet();
            kept.set(0, FROM);
            float[][][] at = backend.forward(ForwardRequest.builder(new int[][] {REWRITE})
                    .positions(new int[][] {range(FROM, FROM + REWRITE.length)})
                    .attention(seeing(kept, SEQ.length, REWRITE.length)).state(state)
                    .write(new StateWrite.At(range(FROM, FROM + REWRITE.length))).build()).logits();
            assertThat(state.length()).as("StateWrite.At keeps the length").isEqualTo(SEQ.length);
            for (int j = 0; j < REWRITE.length; j++) {
                assertClose(at[0][j], reference[0][FROM + j], TOL, "rewritten token " + j);
            }
            // The next token reads the rewritten slots 0..8 (not the stale slot 9) and must match the recompute.
            int next = 300;
            int[] continued = Arrays.copyOf(prefix, prefix.length + 1);
            continued[prefix.length] = next;
            float[] expected = backend.forward(ForwardRequest.builder(new int[][] {continued}).build())
                    .logits()[0][prefix.length];
            BitSet upToRewrite = new BitSet();
            upToRewrite.set(0, prefix.length);
            float[] got = backend.forward(ForwardRequest.builder(new int[][] {{next}})
                    .positions(new int[][] {{prefix.length}}).attention(seeing(upToRewrite, SEQ.length, 1))
                    .state(state).write(StateWrite.NONE).build()).logits()[0][0];
            assertClose(got, expected, TOL, "token after the rewrite");
            // Truncating to the rewritten prefix and appending reads the same entries.
            state.truncate(prefix.length);
            float[] appended = backend.forward(ForwardRequest.next(new int[][] {{next}}, state)).last(0);
            assertClose(appended, expected, TOL, "appended after truncate");
        }
    }

    @Test
    void rewritingNeedsAStateAndValidSlots() {
        assertThatThrownBy(() -> backend.forward(ForwardRequest.builder(new int[][] {{5}})
                .write(new StateWrite.At(new int[] {0})).build()))
                .isInstanceOf(ArborException.class).hasMessageContaining("pass the state");
        try (DecodeState state = backend.newState(1)) {
            backend.forward(ForwardRequest.builder(new int[][] {{1, 5}}).state(state).build());
            assertThatThrownBy(() -> backend.forward(ForwardRequest.builder(new int[][] {{7}}).state(state)
                    .write(new StateWrite.At(new int[] {2})).build()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("outside the state's 2 slots");
            assertThat(state.length()).isEqualTo(2);
        }
    }
}
