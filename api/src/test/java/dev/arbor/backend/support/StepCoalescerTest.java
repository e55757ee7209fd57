package dev.arbor.backend.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The coalescer's contract, without sleeps: a first run is held on a latch while other steps queue (the test waits
 * for the queue depth it needs), then the batches it forms are checked.
 */
class StepCoalescerTest {
    /** A step: a value and a shape key; steps merge when their keys are equal. */
    record Step(int value, int key, int rows) {
    }

    private final ExecutorService pool = Executors.newCachedThreadPool();
    private final List<List<Integer>> batches = Collections.synchronizedList(new ArrayList<>());

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    private static final StepCoalescer.Policy<Step> BY_KEY = new StepCoalescer.Policy<>() {
        @Override
        public int rows(Step step) {
            return step.rows();
        }

        @Override
        public boolean compatible(Step first, Step other) {
            return first.key() == other.key();
        }
    };

    /** A runner that records each batch's values, blocks the first batch on {@code gate}, and doubles values. */
    private StepCoalescer<Step, Integer> coalescer(CountDownLatch entered, CountDownLatch gate, int maxRows) {
        AtomicInteger calls = new AtomicInteger();
        return new StepCoalescer<>(BY_KEY, steps -> {
            batches.add(steps.stream().map(Step::value).toList());
            if (calls.getAndIncrement() == 0) {
                entered.countDown();
                await(gate);
            }
            return steps.stream().map(s -> 2 * s.value()).toList();
        }, maxRows, null);
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Waits (on the event, by polling the gauge) until {@code n} steps are queued. */
    private static void awaitQueued(StepCoalescer<?, ?> c, int n) {
        while (c.queued() < n) {
            Thread.onSpinWait();
            Thread.yield();
        }
    }

    @Test
    void aLoneStepRunsAtOnce() {
        StepCoalescer<Step, Integer> c = new StepCoalescer<>(BY_KEY, steps -> steps.stream().map(s -> s.value() + 1)
                .toList(), 8, null);
        assertThat(c.submit(new Step(41, 0, 1))).isEqualTo(42);
        assertThat(c.stats().batches()).isEqualTo(1);
        assertThat(c.queued()).isZero();
    }

    @Test
    void stepsQueuedDuringARunFormTheNextBatchInFifoOrder() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        StepCoalescer<Step, Integer> c = coalescer(entered, gate, 16);
        Future<Integer> first = pool.submit(() -> c.submit(new Step(1, 0, 1)));
        await(entered);
        List<Future<Integer>> later = new ArrayList<>();
        for (int i = 2; i <= 5; i++) {
            int v = i;
            later.add(pool.submit(() -> c.submit(new Step(v, 0, 1))));
            awaitQueued(c, i - 1); // one at a time, so that the FIFO order is known
        }
        gate.countDown();
        assertThat(first.get()).isEqualTo(2);
        for (int i = 0; i < later.size(); i++) {
            assertThat(later.get(i).get()).isEqualTo(2 * (i + 2));
        }
        assertThat(batches).containsExactly(List.of(1), List.of(2, 3, 4, 5));
        StepCoalescer.Stats stats = c.stats();
        assertThat(stats.batches()).isEqualTo(2);
        assertThat(stats.steps()).isEqualTo(5);
        assertThat(stats.largestBatch()).isEqualTo(4);
        assertThat(stats.meanBatchSize()).isEqualTo(2.5);
    }

    @Test
    void incompatibleStepsRunAloneInTheirTurnAndMaxRowsSplitsBatches() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        StepCoalescer<Step, Integer> c = coalescer(entered, gate, 3);
        Future<Integer> first = pool.submit(() -> c.submit(new Step(0, 0, 1)));
        await(entered);
        // queued: 1(key 0), 2(key 1), 3(key 0, 2 rows), 4(key 0), 5(key 1)
        int[][] steps = {{1, 0, 1}, {2, 1, 1}, {3, 0, 2}, {4, 0, 1}, {5, 1, 1}};
        List<Future<Integer>> later = new ArrayList<>();
        for (int i = 0; i < steps.length; i++) {
            int[] s = steps[i];
            later.add(pool.submit(() -> c.submit(new Step(s[0], s[1], s[2]))));
            awaitQueued(c, i + 1);
        }
        gate.countDown();
        first.get();
        for (Future<Integer> f : later) {
            f.get();
        }
        // 1 takes 3 (rows 1 + 2 = 3 = max); 4 no longer fits. Then 2 (oldest) with 5; then 4.
        assertThat(batches).containsExactly(List.of(0), List.of(1, 3), List.of(2, 5), List.of(4));
    }

    @Test
    void aRunnerGathersAsManyStepsAsThePreviousBatchHad() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        AtomicInteger calls = new AtomicInteger();
        // a window far longer than the test, so only arrivals end the gathering
        StepCoalescer<Step, Integer> c = new StepCoalescer<>(BY_KEY, steps -> {
            batches.add(steps.stream().map(Step::value).toList());
            if (calls.getAndIncrement() == 0) {
                entered.countDown();
                await(gate);
            }
            return steps.stream().map(Step::value).toList();
        }, 8, 60_000_000_000L, null);
        Future<Integer> first = pool.submit(() -> c.submit(new Step(1, 0, 1)));
        await(entered);
        List<Future<Integer>> second = new ArrayList<>();
        for (int v = 2; v <= 4; v++) {
            int value = v;
            second.add(pool.submit(() -> c.submit(new Step(value, 0, 1))));
            awaitQueued(c, v - 1);
        }
        gate.countDown();
        first.get();
        for (Future<Integer> f : second) {
            f.get();
        }
        // The previous batch had 3 steps: the next runner waits for 3 queued steps, however they trickle in.
        List<Future<Integer>> third = new ArrayList<>();
        for (int v = 5; v <= 7; v++) {
            int value = v;
            third.add(pool.submit(() -> c.submit(new Step(value, 0, 1))));
            awaitQueued(c, v - 4);
        }
        for (Future<Integer> f : third) {
            f.get();
        }
        assertThat(batches).containsExactly(List.of(1), List.of(2, 3, 4), List.of(5, 6, 7));
    }

    @Test
    void aGatheringRunnerRunsWhatItHasWhenTheWindowEnds() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        AtomicInteger calls = new AtomicInteger();
        StepCoalescer<Step, Integer> c = new StepCoalescer<>(BY_KEY, steps -> {
            batches.add(steps.stream().map(Step::value).toList());
            if (calls.getAndIncrement() == 0) {
                entered.countDown();
                await(gate);
            }
            return steps.stream().map(Step::value).toList();
        }, 8, 1_000_000L, null);
        Future<Integer> first = pool.submit(() -> c.submit(new Step(1, 0, 1)));
        await(entered);
        Future<Integer> a = pool.submit(() -> c.submit(new Step(2, 0, 1)));
        awaitQueued(c, 1);
        Future<Integer> b = pool.submit(() -> c.submit(new Step(3, 0, 1)));
        awaitQueued(c, 2);
        gate.countDown();
        first.get();
        a.get();
        b.get();
        // one caller of the batch of two never comes back: the next runs alone once the 1 ms window has passed
        assertThat(c.submit(new Step(4, 0, 1))).isEqualTo(4);
        assertThat(batches).containsExactly(List.of(1), List.of(2, 3), List.of(4));
    }

    @Test
    void aFailingBatchFailsItsStepsOnlyAndTheCoalescerGoesOn() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        AtomicInteger calls = new AtomicInteger();
        StepCoalescer<Step, Integer> c = new StepCoalescer<>(BY_KEY, steps -> {
            int call = calls.getAndIncrement();
            if (call == 0) {
                entered.countDown();
                await(gate);
            }
            if (steps.get(0).key() == 7) {
                throw ArborException.invalid("bad step " + steps.get(0).value());
            }
            return steps.stream().map(Step::value).toList();
        }, 8, null);
        Future<Integer> first = pool.submit(() -> c.submit(new Step(1, 0, 1)));
        await(entered);
        Future<Integer> bad1 = pool.submit(() -> c.submit(new Step(2, 7, 1)));
        awaitQueued(c, 1);
        Future<Integer> bad2 = pool.submit(() -> c.submit(new Step(3, 7, 1)));
        awaitQueued(c, 2);
        Future<Integer> good = pool.submit(() -> c.submit(new Step(4, 0, 1)));
        awaitQueued(c, 3);
        gate.countDown();
        assertThat(first.get()).isEqualTo(1);
        assertThat(good.get()).isEqualTo(4);
        for (Future<Integer> bad : List.of(bad1, bad2)) {
            assertThatThrownBy(bad::get).hasCauseInstanceOf(ArborException.class).hasMessageContaining("bad step 2");
        }
        assertThat(c.submit(new Step(5, 0, 1))).isEqualTo(5);
    }

    @Test
    void anInterruptedQueuedStepIsCancelledAndNeverRuns() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch gate = new CountDownLatch(1);
        StepCoalescer<Step, Integer> c = coalescer(entered, gate, 8);
        Future<Integer> first = pool.submit(() -> c.submit(new Step(1, 0, 1)));
        await(entered);
        CountDownLatch failed = new CountDownLatch(1);
        AtomicInteger kind = new AtomicInteger(-1);
        Thread waiter = new Thread(() -> {
            try {
                c.submit(new Step(99, 0, 1));
            } catch (ArborException e) {
                kind.set(e.kind().ordinal());
            }
            failed.countDown();
        });
        waiter.start();
        awaitQueued(c, 1);
        waiter.interrupt();
        failed.await();
        assertThat(kind.get()).isEqualTo(ArborException.Kind.CANCELLED.ordinal());
        assertThat(c.queued()).isZero();
        gate.countDown();
        first.get();
        assertThat(c.submit(new Step(2, 0, 1))).isEqualTo(4);
        assertThat(batches).containsExactly(List.of(1), List.of(2));
    }

    @Test
    void manyThreadsGetTheirOwnResultsAndRunsNeverOverlap() throws Exception {
        int threads = 8;
        int perThread = 300;
        AtomicInteger inRun = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        StepCoalescer<Step, Integer> c = new StepCoalescer<>(BY_KEY, steps -> {
            if (inRun.incrementAndGet() != 1) {
                overlaps.incrementAndGet();
            }
            List<Integer> out = steps.stream().map(s -> s.value() * 3).toList();
            inRun.decrementAndGet();
            return out;
        }, 4, null);
        CyclicBarrier start = new CyclicBarrier(threads);
        List<Future<Integer>> done = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int id = t;
            done.add(pool.submit(() -> {
                start.await();
                int wrong = 0;
                for (int i = 0; i < perThread; i++) {
                    int v = id * 100_000 + i;
                    // two keys, so merging and lone runs interleave
                    if (c.submit(new Step(v, (id + i) % 2, 1)) != 3 * v) {
                        wrong++;
                    }
                }
                return wrong;
            }));
        }
        for (Future<Integer> f : done) {
            assertThat(f.get()).isZero();
        }
        assertThat(overlaps.get()).isZero();
        StepCoalescer.Stats stats = c.stats();
        assertThat(stats.steps()).isEqualTo((long) threads * perThread);
        assertThat(stats.rows()).isEqualTo((long) threads * perThread);
        assertThat(stats.largestBatch()).isBetween(1, 4);
    }
}
