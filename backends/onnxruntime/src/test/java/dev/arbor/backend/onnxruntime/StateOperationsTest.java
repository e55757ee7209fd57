package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.assertClose;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.stateless;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.StateWrite;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The cached path agrees with the stateless reference path: incremental decoding, left padding, and every state
 * edit (fork, compact, selectRows, truncate) give the logits a full recompute of the same sequence gives.
 */
class StateOperationsTest {
    private static final double TOL = 1e-4;
    private static final int[] SEQ = {5, 17, 900, 42, 3, 77, 640, 12};
    private static OnnxDecoderBackend backend;

    @BeforeAll
    static void open() {
        backend = Gpt2Fixture.openGpt2();
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    /** Stateless logits of the last token of {@code seq}. */
    private static float[] reference(int... seq) {
        float[][][] all = stateless(backend, new int[][] {seq});
        return all[0][seq.length - 1];
    }

    private static int[] prefix(int n) {
        return java.util.Arrays.copyOf(SEQ, n);
    }

    @Test
    void incrementalDecodeEqualsStatelessRecompute() {
        float[][][] full = stateless(backend, new int[][] {SEQ});
        try (DecodeState state = backend.newState(1)) {
            ForwardResult prefill = backend.forward(ForwardRequest.builder(new int[][] {prefix(3)}).state(state)
                    .build());
            for (int t = 0; t < 3; t++) {
                assertClose(prefill.logits(0, t), full[0][t], TOL, "prefill row " + t);
            }
            for (int t = 3; t < SEQ.length; t++) {
                float[] step = backend.forward(ForwardRequest.next(new int[][] {{SEQ[t]}}, state)).last(0);
                assertClose(step, full[0][t], TOL, "step " + t);
            }
            assertThat(state.length()).isEqualTo(SEQ.length);
        }
    }

    @Test
    void logitRowsSelectOnlyTheRowsAskedFor() {
        float[][][] full = stateless(backend, new int[][] {SEQ});
        float[][][] some = backend.forward(ForwardRequest.builder(new int[][] {SEQ})
                .logitRows(new int[][] {{6, 1}}).build()).logits();
        assertThat(some[0]).hasNumberOfRows(2);
        assertClose(some[0][0], full[0][6], 0, "row 6");
        assertClose(some[0][1], full[0][1], 0, "row 1");
    }

    @Test
    void writeNoneReadsButLeavesTheStateUnchanged() {
        try (DecodeState state = backend.newState(1)) {
            backend.forward(ForwardRequest.builder(new int[][] {prefix(4)}).state(state).build());
            float[] peek = backend.forward(ForwardRequest.builder(new int[][] {{SEQ[4]}}).state(state)
                    .write(StateWrite.NONE).build()).last(0);
            assertThat(state.length()).isEqualTo(4);
            assertClose(peek, reference(prefix(5)), TOL, "peek");
            float[] step = backend.forward(ForwardRequest.next(new int[][] {{SEQ[4]}}, state)).last(0);
            assertClose(step, peek, TOL, "append after peek");
        }
    }

    @Test
    void leftPaddedRowGetsTheSameLogitsAsAlone() {
        int[] longRow = prefix(5);
        int[] shortRow = {31, 415, 9};
        int pad = backend.card().padTokenId().orElse(0);
        int[][] batch = {longRow, {pad, pad, shortRow[0], shortRow[1], shortRow[2]}};
        boolean[][] valid = {{true, true, true, true, true}, {false, false, true, true, true}};
        AttentionSpec spec = new AttentionSpec.WithPadding(AttentionSpec.CAUSAL, valid);
        try (DecodeState state = backend.newState(2)) {
            ForwardResult r = backend.forward(ForwardRequest.builder(batch).attention(spec).state(state)
                    .lastRowOnly().build());
            assertClose(r.last(0), reference(longRow), TOL, "long row");
            assertClose(r.last(1), reference(shortRow), TOL, "padded row");
            // Decode two more steps: padding slots stay hidden and positions continue per row.
            int[][] next = {{SEQ[5]}, {77}};
            float[][][] s1 = backend.forward(ForwardRequest.next(next, state)).logits();
            assertClose(s1[0][0], reference(prefix(6)), TOL, "long row step");
            assertClose(s1[1][0], reference(31, 415, 9, 77), TOL, "padded row step");
            // Stateless with padding agrees too.
            float[][][] st = backend.forward(ForwardRequest.builder(batch).attention(spec).lastRowOnly().build())
                    .logits();
            assertClose(st[1][0], reference(shortRow), TOL, "stateless padded row");
        }
    }

    @Test
    void forkedStatesDivergeIndependently() {
        try (DecodeState a = backend.newState(1)) {
            backend.forward(ForwardRequest.builder(new int[][] {prefix(4)}).state(a).build());
            try (DecodeState b = a.fork()) {
                float[] la = backend.forward(ForwardRequest.next(new int[][] {{SEQ[4]}}, a)).last(0);
                float[] lb = backend.forward(ForwardRequest.next(new int[][] {{999}}, b)).last(0);
                assertClose(la, reference(prefix(5)), TOL, "original");
                assertClose(lb, reference(5, 17, 900, 42, 999), TOL, "fork");
                b.truncate(2);
                float[] lb2 = backend.forward(ForwardRequest.next(new int[][] {{1}}, b)).last(0);
                assertClose(lb2, reference(5, 17, 1), TOL, "fork after truncate");
            }
            // The original survives the fork's close.
            float[] la2 = backend.forward(ForwardRequest.next(new int[][] {{SEQ[5]}}, a)).last(0);
            assertClose(la2, reference(prefix(6)), TOL, "original after fork closed");
        }
    }

    @Test
    void truncateThenContinueEqualsRecompute() {
        try (DecodeState state = backend.newState(1)) {
            backend.forward(ForwardRequest.builder(new int[][] {SEQ}).state(state).build());
            state.truncate(3);
            assertThat(state.length()).isEqualTo(3);
            float[] l = backend.forward(ForwardRequest.next(new int[][] {{123}}, state)).last(0);
            assertClose(l, reference(5, 17, 900, 123), TOL, "after truncate");
            state.truncate(0);
            float[] l0 = backend.forward(ForwardRequest.next(new int[][] {{SEQ[0], SEQ[1]}}, state)).last(0);
            assertClose(l0, reference(SEQ[0], SEQ[1]), TOL, "after truncate to empty");
        }
    }

    @Test
    void compactDropsHiddenSlotsAndKeepsTheRest() {
        // Slot 2 is written as padding (hidden from everything after it), then compacted away: the result must
        // be the cache of the sequence without that token.
        int[] written = {5, 17, 900, 42, 3};
        boolean[][] valid = {{true, true, false, true, true}};
        try (DecodeState state = backend.newState(1)) {
            backend.forward(ForwardRequest.builder(new int[][] {written})
                    .attention(new AttentionSpec.WithPadding(AttentionSpec.CAUSAL, valid)).state(state).build());
            try (DecodeState uncompacted = state.fork()) {
                state.compact(new int[] {0, 1, 3, 4});
                assertThat(state.length()).isEqualTo(4);
                float[] l = backend.forward(ForwardRequest.next(new int[][] {{77}}, state)).last(0);
                assertClose(l, reference(5, 17, 42, 3, 77), TOL, "compacted");
                float[] u = backend.forward(ForwardRequest.next(new int[][] {{77}}, uncompacted)).last(0);
                assertClose(u, l, TOL, "uncompacted with the hidden slot");
            }
        }
    }

    @Test
    void selectRowsReordersAndRepeatsRows() {
        int[][] rows = {{5, 17, 900}, {31, 415, 9}};
        try (DecodeState state = backend.newState(2)) {
            backend.forward(ForwardRequest.builder(rows).state(state).build());
            state.selectRows(new int[] {1, 1, 0});
            assertThat(state.batchSize()).isEqualTo(3);
            float[][][] l = backend.forward(ForwardRequest.next(new int[][] {{1}, {2}, {3}}, state)).logits();
            assertClose(l[0][0], reference(31, 415, 9, 1), TOL, "row 0 <- 1");
            assertClose(l[1][0], reference(31, 415, 9, 2), TOL, "row 1 <- 1");
            assertClose(l[2][0], reference(5, 17, 900, 3), TOL, "row 2 <- 0");
            state.dropRows(new int[] {0});
            float[][][] d = backend.forward(ForwardRequest.next(new int[][] {{4}, {4}}, state)).logits();
            assertClose(d[0][0], reference(31, 415, 9, 2, 4), TOL, "after drop, row 0");
            assertClose(d[1][0], reference(5, 17, 900, 3, 4), TOL, "after drop, row 1");
        }
    }

    @Test
    void selectRowsCarriesPaddingWithTheRow() {
        int pad = backend.card().padTokenId().orElse(0);
        boolean[][] valid = {{true, true, true}, {false, true, true}};
        try (DecodeState state = backend.newState(2)) {
            backend.forward(ForwardRequest.builder(new int[][] {{5, 17, 900}, {pad, 415, 9}})
                    .attention(new AttentionSpec.WithPadding(AttentionSpec.CAUSAL, valid)).state(state).build());
            state.selectRows(new int[] {1});
            float[] l = backend.forward(ForwardRequest.next(new int[][] {{6}}, state)).last(0);
            assertClose(l, reference(415, 9, 6), TOL, "padded row alone");
        }
    }
}
