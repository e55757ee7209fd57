package dev.arbor.backend.support;

import dev.arbor.api.ArborException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching for a backend: coalesces the steps (forward calls) that concurrent requests submit into batched
 * runs, one run at a time, so that decoding plugins never see batching.
 *
 * <p>Leader/follower: {@link #submit} queues the caller's step; when no run is in progress the caller becomes the
 * runner, takes the oldest queued step plus every later queued step the {@link Policy} finds compatible with it (in
 * FIFO order, up to {@code maxRows} rows), runs them with the {@link BatchRunner}, hands each waiter its result and
 * lets the next waiter run. Steps that arrive during a run queue up and form the next batch, so no timer or sleep is
 * involved: a lone request runs at once, and batches grow with the number of requests stepping together. The oldest
 * step always runs next, so a step that merges with nothing (another query length, a prefill chunk, another mask)
 * runs alone in its turn and never starves.
 *
 * <p>Gathering: the callers of a batch need a moment (a thread wake-up, their own sampling) before they submit their
 * next step, so the first of them to come back would otherwise run alone while the others arrive just after it. With
 * a gather window, a runner whose queue holds fewer steps than the previous batch had waits for more, at most that
 * window (a departed caller costs one window once). A window of 0 never waits.
 *
 * <p>Runs never overlap, which is what a backend that shares memory between steps (a KV arena) or that uses every
 * core per run wants. Thread-safe.
 *
 * @param <S> one caller's step
 * @param <R> its result
 */
public final class StepCoalescer<S, R> {

    /** Runs one batch; called by one thread at a time. */
    @FunctionalInterface
    public interface BatchRunner<S, R> {
        /**
         * Runs {@code steps} (at least one, oldest first) and returns one result per step, in the same order. An
         * exception fails every step of the batch, so a runner should validate steps before they are submitted.
         */
        List<R> run(List<S> steps);
    }

    /** Which steps may share a run, and how large they are. */
    public interface Policy<S> {
        /** The rows {@code step} adds to a batch (at least 1). */
        int rows(S step);

        /** True when {@code other} may run in one batch with {@code first}, the oldest step of the batch. */
        boolean compatible(S first, S other);
    }

    /** Called by the runner for every batch, outside any lock of the coalescer; must be cheap and not throw. */
    public interface Observer {
        /** A batch of {@code steps} steps and {@code rows} rows starts; {@code queueWaitNanos[i]} is step i's wait. */
        void batch(int steps, int rows, long[] queueWaitNanos);

        /**
         * One observer telling every observer {@code current} holds at the time of each batch (a backend provider's
         * dynamic list of observer services).
         */
        static Observer fanOut(java.util.function.Supplier<? extends Iterable<? extends Observer>> current) {
            Objects.requireNonNull(current, "current");
            return (steps, rows, waits) -> {
                for (Observer o : current.get()) {
                    o.batch(steps, rows, waits);
                }
            };
        }
    }

    /**
     * Totals since creation.
     *
     * @param batches        runs made
     * @param steps          steps run (steps / batches is the mean batch size in steps)
     * @param rows           rows run
     * @param queueWaitNanos summed time steps spent queued before their run started
     * @param largestBatch   the most steps one run took
     */
    public record Stats(long batches, long steps, long rows, long queueWaitNanos, int largestBatch) {
        /** Mean steps per run, 0 before the first run. */
        public double meanBatchSize() {
            return batches == 0 ? 0 : (double) steps / batches;
        }
    }

    /** A step with its place in the queue and, once run, its outcome. */
    private static final class Pending<S, R> {
        final S step;
        final long queuedAt;
        boolean taken;
        boolean done;
        R result;
        Throwable failure;

        Pending(S step, long queuedAt) {
            this.step = step;
            this.queuedAt = queuedAt;
        }
    }

    private final Policy<S> policy;
    private final BatchRunner<S, R> runner;
    private final int maxRows;
    private final Observer observer;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Condition arrived = lock.newCondition();
    private final long gatherNanos;
    private int lastBatchSteps;
    private final ArrayDeque<Pending<S, R>> queue = new ArrayDeque<>();
    private boolean running;
    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong steps = new AtomicLong();
    private final AtomicLong rows = new AtomicLong();
    private final AtomicLong queueWait = new AtomicLong();
    private volatile int largest;

    /**
     * @param maxRows  the most rows one run may take (a single larger step still runs, alone)
     * @param observer told about every batch, may be null
     */
    public StepCoalescer(Policy<S> policy, BatchRunner<S, R> runner, int maxRows, Observer observer) {
        this(policy, runner, maxRows, 0, observer);
    }

    /**
     * @param maxRows     the most rows one run may take (a single larger step still runs, alone)
     * @param gatherNanos how long a runner may wait for the callers of the previous batch to submit again (0: never)
     * @param observer    told about every batch, may be null
     */
    public StepCoalescer(Policy<S> policy, BatchRunner<S, R> runner, int maxRows, long gatherNanos,
                         Observer observer) {
        if (gatherNanos < 0) {
            throw new IllegalArgumentException("gatherNanos must not be negative, got " + gatherNanos);
        }
        this.gatherNanos = gatherNanos;
        this.policy = Objects.requireNonNull(policy, "policy");
        this.runner = Objects.requireNonNull(runner, "runner");
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows must be at least 1, got " + maxRows);
        }
        this.maxRows = maxRows;
        this.observer = observer;
    }

    /**
     * Runs {@code step}, batched with the compatible steps of other threads, and returns its result; blocks until it
     * ran.
     *
     * @throws ArborException CANCELLED when the thread is interrupted while its step is still queued (the step then
     *                        never runs); once a step is running its caller waits for it regardless
     * @throws RuntimeException what the runner threw for the batch holding this step
     */
    public R submit(S step) {
        Pending<S, R> mine = new Pending<>(Objects.requireNonNull(step, "step"), System.nanoTime());
        List<Pending<S, R>> batch;
        lock.lock();
        try {
            queue.addLast(mine);
            if (running) {
                arrived.signal(); // a gathering runner counts arrivals
            }
            while (true) {
                while (!mine.done && running) {
                    try {
                        changed.await();
                    } catch (InterruptedException e) {
                        if (!mine.taken) {
                            queue.remove(mine);
                            changed.signalAll();
                            Thread.currentThread().interrupt();
                            throw new ArborException(ArborException.Kind.CANCELLED, "interrupted while waiting for a "
                                    + "batched forward run");
                        }
                        Thread.currentThread().interrupt(); // taken: wait for the run, keep the flag for the caller
                        changed.awaitUninterruptibly();
                    }
                }
                if (mine.done) {
                    return outcome(mine);
                }
                running = true;
                gather();
                batch = take();
                lock.unlock();
                try {
                    runBatch(batch);
                } finally {
                    lock.lock();
                    running = false;
                    changed.signalAll();
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** Steps queued and not yet taken into a run (a queue-depth gauge). */
    public int queued() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    /** A snapshot of the totals. */
    public Stats stats() {
        return new Stats(batches.get(), steps.get(), rows.get(), queueWait.get(), largest);
    }

    /** Waits (under the lock, at most the gather window) until the queue is as long as the previous batch was. */
    private void gather() {
        if (gatherNanos == 0 || queue.size() >= lastBatchSteps) {
            return;
        }
        long deadline = System.nanoTime() + gatherNanos;
        while (queue.size() < lastBatchSteps) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return;
            }
            try {
                arrived.awaitNanos(left);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt(); // run what is there; the caller sees the flag
                return;
            }
        }
    }

    /** The oldest step and the compatible queued steps after it, removed from the queue; called under the lock. */
    private List<Pending<S, R>> take() {
        Pending<S, R> first = queue.pollFirst();
        List<Pending<S, R>> batch = new ArrayList<>();
        batch.add(first);
        first.taken = true;
        int taken = policy.rows(first.step);
        for (Iterator<Pending<S, R>> it = queue.iterator(); it.hasNext() && taken < maxRows; ) {
            Pending<S, R> p = it.next();
            int r = policy.rows(p.step);
            if (taken + r <= maxRows && policy.compatible(first.step, p.step)) {
                it.remove();
                p.taken = true;
                batch.add(p);
                taken += r;
            }
        }
        if (policy.compatible(first.step, first.step)) {
            lastBatchSteps = batch.size(); // steps that never merge (prompts) say nothing about the next batch
        }
        return batch;
    }

    /** Runs a batch outside the lock, then stores each outcome under it. */
    private void runBatch(List<Pending<S, R>> batch) {
        long start = System.nanoTime();
        long[] waits = new long[batch.size()];
        List<S> stepList = new ArrayList<>(batch.size());
        int rowCount = 0;
        long waited = 0;
        for (int i = 0; i < waits.length; i++) {
            Pending<S, R> p = batch.get(i);
            waits[i] = start - p.queuedAt;
            waited += waits[i];
            stepList.add(p.step);
            rowCount += policy.rows(p.step);
        }
        batches.incrementAndGet();
        steps.addAndGet(waits.length);
        rows.addAndGet(rowCount);
        queueWait.addAndGet(waited);
        if (waits.length > largest) {
            largest = waits.length; // only the runner writes, and runs never overlap
        }
        List<R> results = null;
        Throwable failure = null;
        try {
            if (observer != null) {
                observer.batch(waits.length, rowCount, waits);
            }
            results = runner.run(stepList);
            if (results == null || results.size() != batch.size()) {
                failure = new IllegalStateException("the batch runner returned " + (results == null ? "null"
                        : results.size() + " results") + " for " + batch.size() + " steps");
            }
        } catch (RuntimeException | Error e) {
            failure = e;
        }
        lock.lock();
        try {
            for (int i = 0; i < batch.size(); i++) {
                Pending<S, R> p = batch.get(i);
                if (failure != null) {
                    p.failure = failure;
                } else {
                    p.result = results.get(i);
                }
                p.done = true;
            }
        } finally {
            lock.unlock();
        }
    }

    private static <S, R> R outcome(Pending<S, R> p) {
        if (p.failure instanceof RuntimeException e) {
            throw e;
        }
        if (p.failure instanceof Error e) {
            throw e;
        }
        return p.result;
    }
}
