package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.FusedGraphTest.greedy;
import static dev.arbor.backend.onnxruntime.FusedGraphTest.prompts;
import static dev.arbor.backend.onnxruntime.FusedGraphTest.tokens;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.backend.support.StepCoalescer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Concurrent requests on a fused model: whatever batches the coalescer forms (they depend on thread timing), every
 * request gets the tokens and logits it gets alone. Requests join late and leave early, prompts are chunked between
 * decode steps, and states are edited while other requests run. No sleeps: threads start on a barrier and late
 * joiners wait on a latch that an early request opens after some steps.
 */
class ContinuousBatchingTest {
    @TempDir
    static Path dir;
    private static Path model;
    private static OnnxDecoderBackend alone;

    @BeforeAll
    static void open() throws Exception {
        model = TinyFusedGraph.write(dir, 7, null);
        alone = OnnxDecoderBackend.open(model, Options.of(Map.of("batching", false)), null);
    }

    @AfterAll
    static void close() {
        alone.close();
    }

    @ParameterizedTest(name = "batching={0}")
    @ValueSource(booleans = {true, false})
    void concurrentGreedyRequestsGetTheTokensTheyGetAlone(boolean batching) throws Exception {
        int streams = 10;
        List<int[]> prompts = prompts(streams);
        int[] lengths = new int[streams];
        List<int[]> expected = new ArrayList<>();
        for (int i = 0; i < streams; i++) {
            lengths[i] = 12 + (i * 5) % 17; // leave at different steps
            expected.add(greedy(alone, prompts.get(i), lengths[i]));
        }
        ExecutorService pool = Executors.newFixedThreadPool(streams);
        java.util.concurrent.atomic.AtomicLong observed = new java.util.concurrent.atomic.AtomicLong();
        try (OnnxDecoderBackend m = OnnxDecoderBackend.open(model, Options.of(Map.of("batching", batching,
                "prefill_chunk", 4, "arena_rows", 2)), null, null,
                (steps, rows, waits) -> observed.addAndGet(steps == waits.length ? steps : -1_000_000))) {
            CyclicBarrier start = new CyclicBarrier(streams / 2);
            CountDownLatch lateJoin = new CountDownLatch(1);
            List<Future<int[]>> results = new ArrayList<>();
            for (int i = 0; i < streams; i++) {
                int id = i;
                results.add(pool.submit(() -> {
                    if (id < streams / 2) {
                        start.await();
                    } else {
                        lateJoin.await(); // join while the first half is decoding
                    }
                    try (DecodeState s = m.newState(1)) {
                        float[] logits = m.forward(ForwardRequest.next(new int[][] {prompts.get(id)}, s)).last(0);
                        int[] out = new int[lengths[id]];
                        for (int t = 0; t < out.length; t++) {
                            out[t] = Gpt2Fixture.argmax(logits);
                            if (id == 0 && t == 3) {
                                lateJoin.countDown();
                            }
                            logits = m.forward(ForwardRequest.next(new int[][] {{out[t]}}, s)).last(0);
                        }
                        return out;
                    }
                }));
            }
            for (int i = 0; i < streams; i++) {
                assertThat(results.get(i).get()).as("stream " + i).containsExactly(expected.get(i));
            }
            StepCoalescer.Stats stats = m.fused().stats();
            if (batching) {
                System.out.printf("continuous batching, %d streams: %d runs for %d steps (mean batch %.2f, largest "
                        + "%d), mean queue wait %.1f us%n", streams, stats.batches(), stats.steps(),
                        stats.meanBatchSize(), stats.largestBatch(), stats.queueWaitNanos() / 1e3 / stats.steps());
                assertThat(stats.largestBatch()).isBetween(1, 64);
                assertThat(stats.rows()).isEqualTo(stats.steps()); // single-row states
                assertThat(observed.get()).as("steps reported to the observer").isEqualTo(stats.steps());
            } else {
                assertThat(stats).isNull();
                assertThat(observed.get()).isZero();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * Every thread runs rounds of prefill (some chunked), decode, truncate-and-continue, fork and close on its own
     * states, all at once; each round's logits equal those of the same sequence of operations alone.
     */
    @ParameterizedTest(name = "batching={0}")
    @ValueSource(booleans = {true, false})
    void stateEditsWhileOthersDecodeKeepEveryRequestExact(boolean batching) throws Exception {
        int threads = 8;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (OnnxDecoderBackend m = OnnxDecoderBackend.open(model, Options.of(Map.of("batching", batching,
                "prefill_chunk", 5, "arena_rows", 1)), null)) {
            CyclicBarrier start = new CyclicBarrier(threads);
            List<Future<List<float[]>>> got = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long seed = 1000 + t;
                got.add(pool.submit(() -> {
                    start.await();
                    return script(m, seed);
                }));
            }
            for (int t = 0; t < threads; t++) {
                List<float[]> expected = script(alone, 1000 + t);
                List<float[]> actual = got.get(t).get();
                assertThat(actual).hasSameSizeAs(expected);
                for (int i = 0; i < expected.size(); i++) {
                    Gpt2Fixture.assertClose(actual.get(i), expected.get(i), 1e-4, "thread " + t + " output " + i);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** A seeded sequence of forwards and state edits; returns every last-row logits it saw. */
    private static List<float[]> script(OnnxDecoderBackend m, long seed) {
        Random r = new Random(seed);
        List<float[]> seen = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            try (DecodeState s = m.newState(1)) {
                int[] prompt = tokens(r.nextLong(), 1 + r.nextInt(14));
                seen.add(m.forward(ForwardRequest.next(new int[][] {prompt}, s)).last(0));
                int steps = 2 + r.nextInt(8);
                for (int i = 0; i < steps; i++) {
                    seen.add(m.forward(ForwardRequest.next(new int[][] {{r.nextInt(TinyFusedGraph.VOCAB)}}, s))
                            .last(0));
                }
                s.truncate(1 + r.nextInt(s.length()));
                seen.add(m.forward(ForwardRequest.next(new int[][] {{r.nextInt(TinyFusedGraph.VOCAB)}}, s)).last(0));
                try (DecodeState f = s.fork()) {
                    seen.add(m.forward(ForwardRequest.next(new int[][] {{r.nextInt(TinyFusedGraph.VOCAB)}}, f))
                            .last(0));
                    seen.add(m.forward(ForwardRequest.next(new int[][] {{r.nextInt(TinyFusedGraph.VOCAB)}}, s))
                            .last(0));
                }
            }
        }
        return seen;
    }
}
