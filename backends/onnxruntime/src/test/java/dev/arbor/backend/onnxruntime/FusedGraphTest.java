package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.argmax;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.StateWrite;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fused path on {@link TinyFusedGraph}: KV written in place in the arena, checked against the stateless forward
 * of the same graph (one first-prompt run over the whole sequence, another code path of GroupQueryAttention):
 * incremental decoding, chunked prefill, every state edit, batched steps over arena slices with rows the batch does
 * not serve (their KV must survive), and the arena's limit.
 */
class FusedGraphTest {
    private static final double TOL = 1e-4;
    private static final int V = TinyFusedGraph.VOCAB;
    @TempDir
    static Path dir;
    static Path model;
    private static OnnxDecoderBackend backend;

    @BeforeAll
    static void open() throws Exception {
        model = TinyFusedGraph.write(dir, 7, null);
        backend = OnnxDecoderBackend.open(model, Options.empty(), null);
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    static int[] tokens(long seed, int n) {
        Random r = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextInt(V);
        }
        return t;
    }

    /** Stateless logits of every token of {@code seq} (the reference). */
    static float[][] reference(OnnxDecoderBackend b, int[] seq) {
        return b.forward(ForwardRequest.builder(new int[][] {seq}).build()).logits()[0];
    }

    static int[] concat(int[] a, int... b) {
        int[] c = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, c, a.length, b.length);
        return c;
    }

    @Test
    void signatureAndCapabilitiesSayFused() {
        assertThat(backend.signature().fused).isTrue();
        assertThat(backend.toString()).contains("fused");
        assertThat(backend.card().capabilities()).contains(Capability.BATCH, Capability.STATE_TRUNCATE,
                Capability.STATE_FORK, Capability.STATE_SELECT_ROWS, Capability.STATE_COMPACT)
                .doesNotContain(Capability.PADDING, Capability.STATE_WRITE_AT, Capability.FULL_ATTENTION);
    }

    @Test
    void incrementalDecodeEqualsStatelessRecompute() {
        int[] seq = tokens(1, 20);
        float[][] ref = reference(backend, seq);
        try (DecodeState s = backend.newState(1)) {
            float[][][] prefill = backend.forward(ForwardRequest.builder(new int[][] {Arrays.copyOf(seq, 6)})
                    .state(s).build()).logits();
            for (int t = 0; t < 6; t++) {
                assertClose(prefill[0][t], ref[t], TOL, "prefill " + t);
            }
            for (int t = 6; t < seq.length; t++) {
                assertClose(backend.forward(ForwardRequest.next(new int[][] {{seq[t]}}, s)).last(0), ref[t], TOL,
                        "step " + t);
            }
            assertThat(s.length()).isEqualTo(seq.length);
            // several tokens after a past (a subsequent prompt) and a read-only forward
            int[] more = tokens(2, 5);
            float[][] ref2 = reference(backend, concat(seq, more));
            float[][][] none = backend.forward(ForwardRequest.builder(new int[][] {more}).state(s)
                    .write(StateWrite.NONE).build()).logits();
            assertThat(s.length()).isEqualTo(seq.length);
            float[][][] app = backend.forward(ForwardRequest.builder(new int[][] {more}).state(s).build()).logits();
            for (int j = 0; j < more.length; j++) {
                assertClose(none[0][j], ref2[seq.length + j], TOL, "read-only " + j);
                assertClose(app[0][j], ref2[seq.length + j], TOL, "appended " + j);
            }
        }
    }

    @Test
    void chunkedPrefillEqualsOneRunAndLogitRowsPickTheirRows() throws Exception {
        int[] seq = tokens(3, 23);
        float[][] ref = reference(backend, seq);
        try (OnnxDecoderBackend chunked = OnnxDecoderBackend.open(model, Options.of(Map.of("prefill_chunk", 4)), null);
             DecodeState s = chunked.newState(1)) {
            float[][][] out = chunked.forward(ForwardRequest.builder(new int[][] {seq}).state(s)
                    .logitRows(new int[][] {{22, 0, 9, 9}}).build()).logits();
            assertClose(out[0][0], ref[22], TOL, "row 22");
            assertClose(out[0][1], ref[0], TOL, "row 0");
            assertClose(out[0][2], ref[9], TOL, "row 9");
            assertClose(out[0][3], ref[9], TOL, "row 9 again");
            assertThat(s.length()).isEqualTo(23);
        }
    }

    @Test
    void truncateThenContinueEqualsRecompute() {
        int[] seq = tokens(4, 12);
        try (DecodeState s = backend.newState(1)) {
            backend.forward(ForwardRequest.builder(new int[][] {seq}).state(s).build());
            s.truncate(7);
            int[] other = {5, 9, 11};
            float[][] ref = reference(backend, concat(Arrays.copyOf(seq, 7), other));
            for (int j = 0; j < other.length; j++) {
                assertClose(backend.forward(ForwardRequest.next(new int[][] {{other[j]}}, s)).last(0), ref[7 + j],
                        TOL, "after truncate " + j);
            }
            s.truncate(0);
            assertClose(backend.forward(ForwardRequest.next(new int[][] {{other[0]}}, s)).last(0),
                    reference(backend, new int[] {other[0]})[0], TOL, "after truncate to 0");
        }
    }

    @Test
    void forkSelectRowsAndCompactEditTheArenaRows() {
        int[] a = tokens(5, 8);
        int[] b = tokens(6, 8);
        try (DecodeState s = backend.newState(2)) {
            backend.forward(ForwardRequest.builder(new int[][] {a, b}).state(s).build());
            try (DecodeState f = s.fork()) {
                float[] fa = backend.forward(ForwardRequest.next(new int[][] {{1}, {2}}, f)).last(0);
                float[] sa = backend.forward(ForwardRequest.next(new int[][] {{3}, {4}}, s)).last(0);
                assertClose(fa, reference(backend, concat(a, 1))[8], TOL, "fork row 0");
                assertClose(sa, reference(backend, concat(a, 3))[8], TOL, "original row 0");
            }
            // reorder with a repeat: rows (b+4, a+3, b+4)
            s.selectRows(new int[] {1, 0, 1});
            float[][][] out = backend.forward(ForwardRequest.next(new int[][] {{7}, {8}, {9}}, s)).logits();
            assertClose(out[0][0], reference(backend, concat(b, 4, 7))[9], TOL, "selected row 0");
            assertClose(out[1][0], reference(backend, concat(a, 3, 8))[9], TOL, "selected row 1");
            assertClose(out[2][0], reference(backend, concat(b, 4, 9))[9], TOL, "selected row 2");
            s.dropRows(new int[] {0}); // an ordered subset moves down in place
            assertThat(s.batchSize()).isEqualTo(2);
            out = backend.forward(ForwardRequest.next(new int[][] {{10}, {11}}, s)).logits();
            assertClose(out[0][0], reference(backend, concat(a, 3, 8, 10))[10], TOL, "after drop row 0");
            assertClose(out[1][0], reference(backend, concat(b, 4, 9, 11))[10], TOL, "after drop row 1");
            // keeping a prefix by compact is truncation
            s.compact(new int[] {0, 1, 2, 3, 4});
            out = backend.forward(ForwardRequest.next(new int[][] {{12}, {13}}, s)).logits();
            assertClose(out[0][0], reference(backend, concat(Arrays.copyOf(a, 5), 12))[5], TOL, "compact prefix");
        }
    }

    @Test
    void compactMovesEachKeptSlotDown() {
        FusedDecoder fused = backend.fused();
        KvArena arena = fused.arena();
        try (FusedDecodeState s = (FusedDecodeState) backend.newState(1)) {
            backend.forward(ForwardRequest.builder(new int[][] {tokens(8, 9)}).state(s).build());
            int row = s.firstRow();
            int[] keep = {1, 4, 5, 8};
            float[][] before = new float[keep.length][];
            for (int j = 0; j < keep.length; j++) {
                before[j] = new float[] {arena.read(0, row, 0, keep[j], 0), arena.read(3, row, 1, keep[j], 7)};
            }
            s.compact(keep);
            assertThat(s.length()).isEqualTo(4);
            for (int j = 0; j < keep.length; j++) {
                assertThat(new float[] {arena.read(0, row, 0, j, 0), arena.read(3, row, 1, j, 7)})
                        .as("slot " + keep[j] + " moved to " + j).containsExactly(before[j]);
            }
        }
    }

    @Test
    void aBatchedStepLeavesRowsItDoesNotServeIntact() {
        // States a, b, c own consecutive rows; a batch of a and c covers b's row with a dummy token.
        try (OnnxDecoderBackend m = OnnxDecoderBackend.open(model, Options.of(Map.of("arena_rows", 1)), null)) {
            FusedDecoder fused = m.fused();
            int[] pa = tokens(10, 5);
            int[] pb = tokens(11, 9);
            int[] pc = tokens(12, 3);
            try (FusedDecodeState a = (FusedDecodeState) m.newState(1);
                 FusedDecodeState b = (FusedDecodeState) m.newState(1);
                 FusedDecodeState c = (FusedDecodeState) m.newState(1)) {
                assertThat(new int[] {a.firstRow(), b.firstRow(), c.firstRow()}).containsExactly(0, 1, 2);
                for (var e : Map.of(a, pa, b, pb, c, pc).entrySet()) {
                    m.forward(ForwardRequest.builder(new int[][] {e.getValue()}).state(e.getKey()).build());
                }
                List<float[][][]> out = fused.forwardTogether(List.of(a, c), List.of(new int[][] {{3}},
                        new int[][] {{4}}));
                assertClose(out.get(0)[0][0], reference(m, concat(pa, 3))[5], TOL, "batched a");
                assertClose(out.get(1)[0][0], reference(m, concat(pc, 4))[3], TOL, "batched c");
                assertThat(b.length()).isEqualTo(9);
                assertClose(m.forward(ForwardRequest.next(new int[][] {{6}}, b)).last(0),
                        reference(m, concat(pb, 6))[9], TOL, "b after the batch that covered its row");
                // b full: its row has no free slot, so a batch of a and c is split around it and b stays intact.
                int[] fill = tokens(13, TinyFusedGraph.MAX_POSITIONS - b.length());
                m.forward(ForwardRequest.builder(new int[][] {fill}).state(b).build());
                assertThat(b.length()).isEqualTo(TinyFusedGraph.MAX_POSITIONS);
                out = fused.forwardTogether(List.of(a, c), List.of(new int[][] {{5}}, new int[][] {{6}}));
                assertClose(out.get(0)[0][0], reference(m, concat(pa, 3, 5))[6], TOL, "split batch a");
                assertClose(out.get(1)[0][0], reference(m, concat(pc, 4, 6))[4], TOL, "split batch c");
                int[] full = concat(concat(pb, 6), fill);
                b.truncate(full.length - 1);
                assertClose(m.forward(ForwardRequest.next(new int[][] {{full[full.length - 1]}}, b)).last(0),
                        reference(m, full)[full.length - 1], TOL, "full row b intact");
            }
        }
    }

    @Test
    void aGraphWithAttentionBiasIsFedZerosAndComputesTheSame() throws Exception {
        Path withBias = TinyFusedGraph.write(dir, 7, null, true); // the same weights plus the bias input
        try (OnnxDecoderBackend m = OnnxDecoderBackend.open(withBias, Options.of(Map.of("prefill_chunk", 3)), null)) {
            assertThat(m.signature().hasBias).isTrue();
            assertThat(m.card().capabilities()).doesNotContain(Capability.EXPLICIT_MASK, Capability.PADDING);
            int[] pa = tokens(20, 7);
            int[] pb = tokens(21, 4);
            try (FusedDecodeState a = (FusedDecodeState) m.newState(1);
                 FusedDecodeState b = (FusedDecodeState) m.newState(1);
                 FusedDecodeState c = (FusedDecodeState) m.newState(1)) {
                float[][] prefill = m.forward(ForwardRequest.builder(new int[][] {pa}).state(a).build()).logits()[0];
                float[][] ref = reference(backend, pa);
                for (int t = 0; t < pa.length; t++) {
                    assertClose(prefill[t], ref[t], TOL, "chunked prefill with bias " + t);
                }
                m.forward(ForwardRequest.builder(new int[][] {pb}).state(b).build());
                m.forward(ForwardRequest.builder(new int[][] {{1, 2}}).state(c).build());
                // a and c batched over b's row
                List<float[][][]> out = m.fused().forwardTogether(List.of(a, c), List.of(new int[][] {{9}},
                        new int[][] {{8}}));
                assertClose(out.get(0)[0][0], reference(backend, concat(pa, 9))[7], TOL, "batched a with bias");
                assertClose(out.get(1)[0][0], reference(backend, new int[] {1, 2, 8})[2], TOL, "batched c with bias");
                assertClose(m.forward(ForwardRequest.next(new int[][] {{5}}, b)).last(0),
                        reference(backend, concat(pb, 5))[4], TOL, "b intact, with bias");
            }
        }
    }

    @Test
    void aFixedKvCapacityOtherThanTheContextIsRefusedAtLoad() throws Exception {
        Path fixed = TinyFusedGraph.write(dir, 7, null, false, 64);
        assertThatThrownBy(() -> OnnxDecoderBackend.open(fixed, Options.empty(), null))
                .isInstanceOf(ArborException.class).hasMessageContaining("KV buffer of 64 slots per row")
                .hasMessageContaining("context of 96 positions");
        Path matching = TinyFusedGraph.write(dir, 7, null, false, TinyFusedGraph.MAX_POSITIONS);
        try (OnnxDecoderBackend m = OnnxDecoderBackend.open(matching, Options.empty(), null)) {
            int[] seq = tokens(30, 6);
            assertClose(m.forward(ForwardRequest.builder(new int[][] {seq}).build()).last(0),
                    reference(backend, seq)[5], TOL, "fixed capacity equal to the context");
        }
    }

    @Test
    void theArenaGrowsUpToMaxBatchRowsThenRefusesNamingTheOption() {
        try (OnnxDecoderBackend m = OnnxDecoderBackend.open(model, Options.of(Map.of("arena_rows", 1,
                "max_batch_rows", 3)), null)) {
            DecodeState a = m.newState(2);
            DecodeState b = m.newState(1);
            assertThat(m.fused().arena().capacityRows()).isEqualTo(3);
            assertThatThrownBy(() -> m.newState(1)).isInstanceOf(ArborException.class)
                    .hasMessageContaining("max_batch_rows").hasMessageContaining("3 of its 3 rows");
            assertThatThrownBy(() -> m.newState(4)).isInstanceOf(ArborException.class)
                    .hasMessageContaining("max_batch_rows=3");
            a.close();
            try (DecodeState c = m.newState(2)) {
                assertThat(c.batchSize()).isEqualTo(2);
            }
            b.close();
        }
    }

    @Test
    void requestsTheFusedGraphCannotExpressAreRefused() {
        try (DecodeState s = backend.newState(1)) {
            backend.forward(ForwardRequest.builder(new int[][] {{1, 2}}).state(s).build());
            assertThatThrownBy(() -> backend.forward(ForwardRequest.builder(new int[][] {{3}}).state(s)
                    .write(new StateWrite.At(new int[] {0})).build()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("StateWrite.At");
            assertThatThrownBy(() -> backend.forward(ForwardRequest.builder(new int[][] {{3}}).state(s)
                    .positions(new int[][] {{TinyFusedGraph.MAX_POSITIONS}}).build()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("outside the context [0, 96)");
            assertThatThrownBy(() -> backend.forward(ForwardRequest.builder(new int[][] {{3}})
                    .attention(AttentionSpec.FULL).build()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("FULL_ATTENTION");
            // explicit positions feed position_ids; keys still go to the next slot
            float[] at7 = backend.forward(ForwardRequest.builder(new int[][] {{3}}).state(s)
                    .positions(new int[][] {{7}}).build()).last(0);
            float[] expected = backend.forward(ForwardRequest.builder(new int[][] {{1, 2, 3}})
                    .positions(new int[][] {{0, 1, 7}}).build()).logits()[0][2];
            assertClose(at7, expected, TOL, "explicit position 7");
            assertThat(s.length()).isEqualTo(3);
        }
    }

    /** Greedy decoding of {@code n} tokens after {@code prompt}, one state, stopping early after {@code stopAt}. */
    static int[] greedy(OnnxDecoderBackend m, int[] prompt, int n) {
        try (DecodeState s = m.newState(1)) {
            float[] logits = m.forward(ForwardRequest.next(new int[][] {prompt}, s)).last(0);
            int[] out = new int[n];
            for (int i = 0; i < n; i++) {
                out[i] = argmax(logits);
                logits = m.forward(ForwardRequest.next(new int[][] {{out[i]}}, s)).last(0);
            }
            return out;
        }
    }

    static List<int[]> prompts(int count) {
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            prompts.add(tokens(100 + i, 1 + (i * 7) % 13));
        }
        return prompts;
    }
}
