package dev.arbor.backend.djl;

import static dev.arbor.backend.djl.DjlTestSupport.argmax;
import static dev.arbor.backend.djl.DjlTestSupport.maxAbsDiff;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.testkit.SharedModels;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Continuous batching on the djl backend: decode steps of requests with different prompts and cache lengths, run
 * as one batched forward, give each request the logits and greedy tokens it gets alone.
 */
class BatchedDecodeTest {
    private static final double TOL = 1e-4;
    private static final int STEPS = 24;
    /** Prompts of different lengths (BOS first), so the batched rows have different KV lengths. */
    private static final int[][] PROMPTS = {
        {1}, {1, 403, 407, 261}, {1, 376, 261, 378, 432, 383, 286}, {1, 261, 376}};
    private static DjlDecoderBackend model;

    @BeforeAll
    static void open() {
        model = (DjlDecoderBackend) DjlTestSupport.stories260k();
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    /** Greedy decoding of {@code prompt} alone (batching cannot apply: nothing else runs): the tokens and logits. */
    private static List<float[]> alone(int[] prompt, int[] tokensOut) {
        List<float[]> logits = new ArrayList<>();
        try (DecodeState state = model.newState(1)) {
            float[] last = model.forward(ForwardRequest.next(new int[][] {prompt}, state)).last(0);
            for (int i = 0; i < STEPS; i++) {
                tokensOut[i] = argmax(last);
                logits.add(last);
                last = model.forward(ForwardRequest.next(new int[][] {{tokensOut[i]}}, state)).last(0);
            }
        }
        return logits;
    }

    @Test
    void aBatchedStepGivesEveryRowItsUnbatchedLogitsAndTokens() {
        int n = PROMPTS.length;
        int[][] expected = new int[n][STEPS];
        List<List<float[]>> expectedLogits = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            expectedLogits.add(alone(PROMPTS[r], expected[r]));
        }
        DecodeState[] states = new DecodeState[n];
        try {
            float[][] last = new float[n][];
            for (int r = 0; r < n; r++) {
                states[r] = model.newState(1);
                last[r] = model.forward(ForwardRequest.next(new int[][] {PROMPTS[r]}, states[r])).last(0);
            }
            for (int i = 0; i < STEPS; i++) {
                List<BatchedDecode.Step> steps = new ArrayList<>();
                for (int r = 0; r < n; r++) {
                    int token = argmax(last[r]);
                    assertThat(token).as("row %d step %d", r, i).isEqualTo(expected[r][i]);
                    assertThat(maxAbsDiff(last[r], expectedLogits.get(r).get(i))).as("row %d step %d", r, i)
                            .isLessThanOrEqualTo(TOL);
                    BatchedDecode.Step step = BatchedDecode.Step.of(
                            ForwardRequest.next(new int[][] {{token}}, states[r]), model);
                    assertThat(step).isNotNull();
                    steps.add(step);
                }
                List<float[]> out = model.runSteps(steps);
                for (int r = 0; r < n; r++) {
                    last[r] = out.get(r);
                }
            }
            for (int r = 0; r < n; r++) {
                assertThat(states[r].length()).isEqualTo(PROMPTS[r].length + STEPS);
            }
        } finally {
            for (DecodeState s : states) {
                if (s != null) {
                    s.close();
                }
            }
        }
    }

    @Test
    void paddingSlotsAStateHoldsStayHiddenInABatch() {
        // row 0 was prefilled with two left-padding slots: its padding and the batch's padding are both hidden
        int[] prompt = {1, 403, 407, 261};
        boolean[][] valid = {{false, false, true, true, true, true}};
        int[][] padded = {{0, 0, 1, 403, 407, 261}};
        int[] expected = new int[STEPS];
        List<float[]> expectedLogits = alone(prompt, expected);
        try (DecodeState a = model.newState(1); DecodeState b = model.newState(1)) {
            float[] lastA = model.forward(ForwardRequest.builder(padded).state(a).lastRowOnly()
                    .attention(new AttentionSpec.WithPadding(AttentionSpec.CAUSAL, valid)).build()).last(0);
            float[] lastB = model.forward(ForwardRequest.next(new int[][] {{1, 376}}, b)).last(0);
            for (int i = 0; i < STEPS; i++) {
                assertThat(argmax(lastA)).as("step %d", i).isEqualTo(expected[i]);
                assertThat(maxAbsDiff(lastA, expectedLogits.get(i))).as("step %d", i).isLessThanOrEqualTo(TOL);
                List<float[]> out = model.runSteps(List.of(
                        BatchedDecode.Step.of(ForwardRequest.next(new int[][] {{expected[i]}}, a), model),
                        BatchedDecode.Step.of(ForwardRequest.next(new int[][] {{argmax(lastB)}}, b), model)));
                lastA = out.get(0);
                lastB = out.get(1);
            }
        }
    }

    /** Runs one batched step of {@code states} with {@code tokens}; returns each state's logits. */
    private static List<float[]> batchedStep(DecodeState[] states, int[] tokens) {
        List<BatchedDecode.Step> steps = new ArrayList<>();
        for (int r = 0; r < states.length; r++) {
            steps.add(BatchedDecode.Step.of(ForwardRequest.next(new int[][] {{tokens[r]}}, states[r]), model));
        }
        return model.runSteps(steps);
    }

    @Test
    void statesLeaveAndRejoinBatchesRunAloneForkAndTruncateExactly() {
        int[] pa = PROMPTS[1];
        int[] pb = PROMPTS[2];
        int[] ea = new int[STEPS];
        int[] eb = new int[STEPS];
        List<float[]> la = alone(pa, ea);
        List<float[]> lb = alone(pb, eb);
        try (DecodeState a = model.newState(1); DecodeState b = model.newState(1)) {
            DecodeState c = model.newState(1);
            model.forward(ForwardRequest.next(new int[][] {pa}, a));
            model.forward(ForwardRequest.next(new int[][] {pb}, b));
            model.forward(ForwardRequest.next(new int[][] {PROMPTS[0]}, c));
            List<float[]> out = null;
            SharedKv previous = null;
            for (int i = 0; i < 4; i++) { // a, b, c together: steady after the first run
                out = batchedStep(new DecodeState[] {a, b, c}, new int[] {ea[i], eb[i], 1});
                SharedKv now = ((DjlDecodeState) a).shared();
                assertThat(now).isNotNull().isSameAs(((DjlDecodeState) b).shared());
                if (previous != null) { // the last run's tensors were freed when every row moved on
                    assertThat(previous.holders()).isZero();
                    assertThat(previous.tensors().get(0).isReleased()).isTrue();
                }
                previous = now;
                assertThat(maxAbsDiff(out.get(0), la.get(i + 1))).as("a, step %d", i).isLessThanOrEqualTo(TOL);
                assertThat(maxAbsDiff(out.get(1), lb.get(i + 1))).as("b, step %d", i).isLessThanOrEqualTo(TOL);
            }
            c.close(); // c leaves: a and b re-stack from their rows
            assertThat(previous.holders()).isEqualTo(2);
            for (int i = 4; i < 8; i++) { // the steps arrive in either order; each keeps its batch row
                boolean bFirst = i % 2 == 0;
                out = batchedStep(bFirst ? new DecodeState[] {b, a} : new DecodeState[] {a, b},
                        bFirst ? new int[] {eb[i], ea[i]} : new int[] {ea[i], eb[i]});
                assertThat(maxAbsDiff(out.get(bFirst ? 1 : 0), la.get(i + 1))).as("a, step %d", i)
                        .isLessThanOrEqualTo(TOL);
                assertThat(maxAbsDiff(out.get(bFirst ? 0 : 1), lb.get(i + 1))).as("b, step %d", i)
                        .isLessThanOrEqualTo(TOL);
            }
            // a runs alone, b forks while holding a batch row; the fork and b continue identically
            float[] aloneA = model.forward(ForwardRequest.next(new int[][] {{ea[8]}}, a)).last(0);
            assertThat(maxAbsDiff(aloneA, la.get(9))).isLessThanOrEqualTo(TOL);
            try (DecodeState fork = b.fork()) {
                float[] fromFork = model.forward(ForwardRequest.next(new int[][] {{eb[8]}}, fork)).last(0);
                assertThat(maxAbsDiff(fromFork, lb.get(9))).isLessThanOrEqualTo(TOL);
            }
            // b truncates back one slot (still holding its batch row) and redoes step 7 with a
            b.truncate(b.length() - 1);
            out = batchedStep(new DecodeState[] {a, b}, new int[] {ea[9], eb[7]});
            assertThat(maxAbsDiff(out.get(0), la.get(10))).isLessThanOrEqualTo(TOL);
            assertThat(maxAbsDiff(out.get(1), lb.get(8))).isLessThanOrEqualTo(TOL);
        }
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void concurrentGreedyRequestsAreBatchedAndEachEqualsItsRunAlone() throws Exception {
        int n = PROMPTS.length;
        int[][] expected = new int[n][STEPS];
        for (int r = 0; r < n; r++) {
            alone(PROMPTS[r], expected[r]);
        }
        long rowsBefore = model.batchingStats().rows();
        // Hold the first decode run until every other request's first decode step is queued behind it, so the
        // others must meet in one batch (an event, not a timing guess); from then on they gather as a group.
        AtomicBoolean held = new AtomicBoolean();
        AtomicInteger largest = new AtomicInteger();
        model.observeBatches((steps, rows, waits) -> {
            largest.accumulateAndGet(rows, Math::max);
            if (held.compareAndSet(false, true)) {
                while (model.queuedSteps() < n - 1) {
                    Thread.onSpinWait();
                }
            }
        });
        CountDownLatch prefilled = new CountDownLatch(n);
        ExecutorService pool = Executors.newFixedThreadPool(n);
        try {
            List<Future<int[]>> results = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int[] prompt = PROMPTS[r];
                results.add(pool.submit(() -> {
                    int[] out = new int[STEPS];
                    try (DecodeState state = model.newState(1)) {
                        float[] last = model.forward(ForwardRequest.next(new int[][] {prompt}, state)).last(0);
                        prefilled.countDown();
                        prefilled.await(); // every request starts decoding with its prompt already cached
                        for (int i = 0; i < STEPS; i++) {
                            out[i] = argmax(last);
                            last = model.forward(ForwardRequest.next(new int[][] {{out[i]}}, state)).last(0);
                        }
                    }
                    return out;
                }));
            }
            for (int r = 0; r < n; r++) {
                assertThat(results.get(r).get()).as("request %d (prompt %s)", r, Arrays.toString(PROMPTS[r]))
                        .containsExactly(expected[r]);
            }
        } finally {
            model.observeBatches(null);
            pool.shutdownNow();
        }
        assertThat(model.batchingStats().rows() - rowsBefore).isEqualTo((long) n * STEPS); // every decode step
        assertThat(largest.get()).isGreaterThanOrEqualTo(n - 1);
    }

    @Test
    @Timeout(value = 30, unit = TimeUnit.SECONDS)
    void theRequestsOfTheLastBatchAreGatheredIntoTheNextOne() throws Exception {
        // a gather window (60 s) beyond the test's timeout: only the arrival of the third step can end the wait
        try (DjlDecoderBackend m = (DjlDecoderBackend) DjlTestSupport.provider().open(new ModelSpec(
                SharedModels.require("stories260K/stories260K.bin"), "llama2c", Options.of(
                        java.util.Map.of("batch_gather_us", 60_000_000))))) {
            List<Integer> batchRows = new java.util.concurrent.CopyOnWriteArrayList<>();
            DecodeState[] states = new DecodeState[3];
            ExecutorService pool = Executors.newFixedThreadPool(3);
            try {
                for (int r = 0; r < 3; r++) {
                    states[r] = m.newState(1);
                    m.forward(ForwardRequest.next(new int[][] {PROMPTS[r]}, states[r]));
                }
                // one batch of the three (held until all three are queued), so that the next run waits for three
                CountDownLatch queued = new CountDownLatch(1);
                AtomicBoolean held = new AtomicBoolean();
                m.observeBatches((steps, rows, waits) -> {
                    if (held.compareAndSet(false, true)) {
                        while (m.queuedSteps() < 2) {
                            Thread.onSpinWait();
                        }
                    }
                    batchRows.add(rows);
                });
                List<Future<?>> first = new ArrayList<>();
                for (int r = 0; r < 3; r++) {
                    DecodeState s = states[r];
                    first.add(pool.submit(() -> m.forward(ForwardRequest.next(new int[][] {{261}}, s))));
                }
                for (Future<?> f : first) {
                    f.get();
                }
                assertThat(batchRows.get(batchRows.size() - 1)).isEqualTo(2);
                batchRows.clear();
                List<BatchedDecode.Step> three = new ArrayList<>();
                for (int r = 0; r < 3; r++) {
                    three.add(BatchedDecode.Step.of(ForwardRequest.next(new int[][] {{376}}, states[r]), m));
                }
                m.runSteps(three); // not through the coalescer: it still expects the 2 of its last batch
                // two step: the coalescer's last batch had two, so they run together at once
                Future<?> a = pool.submit(() -> m.forward(ForwardRequest.next(new int[][] {{407}}, states[0])));
                Future<?> b = pool.submit(() -> m.forward(ForwardRequest.next(new int[][] {{407}}, states[1])));
                a.get();
                b.get();
                assertThat(batchRows).containsExactly(2);
                // now the last batch had two: one step alone waits for a second, whose arrival starts the run
                Future<?> c = pool.submit(() -> m.forward(ForwardRequest.next(new int[][] {{407}}, states[2])));
                while (m.queuedSteps() < 1) {
                    Thread.onSpinWait();
                }
                assertThat(batchRows).containsExactly(2);
                Future<?> a2 = pool.submit(() -> m.forward(ForwardRequest.next(new int[][] {{261}}, states[0])));
                c.get();
                a2.get();
                assertThat(batchRows).containsExactly(2, 2);
            } finally {
                pool.shutdownNow();
                for (DecodeState s : states) {
                    if (s != null) {
                        s.close();
                    }
                }
            }
        }
    }

    @Test
    void batchingCanBeTurnedOff() {
        try (DjlDecoderBackend off = (DjlDecoderBackend) DjlTestSupport.provider().open(new ModelSpec(
                SharedModels.require("stories260K/stories260K.bin"), "llama2c", Options.of(
                        java.util.Map.of("batching", false))))) {
            assertThat(off.batchingStats()).isNull();
            try (DecodeState s = off.newState(1)) {
                float[] a = off.forward(ForwardRequest.next(new int[][] {{1, 403}}, s)).last(0);
                assertThat(maxAbsDiff(a, model.forward(ForwardRequest.builder(new int[][] {{1, 403}})
                        .lastRowOnly().build()).last(0))).isLessThanOrEqualTo(TOL);
            }
        }
    }
}
