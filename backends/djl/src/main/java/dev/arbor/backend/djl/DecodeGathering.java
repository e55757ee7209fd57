package dev.arbor.backend.djl;

import dev.arbor.api.ArborException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.IntSupplier;

/**
 * Gathers the next decode steps of the requests that ran together last time (the holders of one {@link SharedKv}),
 * so that they are submitted to the step coalescer as one group instead of one by one. Without it, the first
 * request back from its sampler finds the coalescer idle and runs alone, the others queue behind it, and a batch of
 * streams in lock step splits into a single and the rest at every step (measured: 4 greedy streams on
 * stories260K, 408 of 554 runs held one step).
 *
 * <p>A step waits until every holder has arrived, or until a holder lets go of the batch (closes its state, runs
 * alone, edits its state), or at most {@code maxWaitNanos}: a request that stops stepping (a slow client) delays its
 * former batch once by that bound, then the others run without it. Whichever waiting thread sees the group complete
 * (or its own wait run out) submits every step gathered so far and hands out the results.
 */
final class DecodeGathering {
    /** One arrived step and, once its group ran, its outcome. */
    private static final class Slot {
        final BatchedDecode.Step step;
        boolean taken;
        boolean done;
        float[] result;
        RuntimeException failure;

        Slot(BatchedDecode.Step step) {
            this.step = step;
        }
    }

    private final IntSupplier holders;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private List<Slot> pending = new ArrayList<>();

    /** @param holders how many states still hold a row of the batch (the group to wait for) */
    DecodeGathering(IntSupplier holders) {
        this.holders = holders;
    }

    /**
     * Runs {@code step} together with the steps of the other holders that arrive in time.
     *
     * @param submit runs a group of steps and returns their logits in order (the step coalescer)
     * @throws ArborException CANCELLED when interrupted before the step was submitted
     */
    float[] join(BatchedDecode.Step step, Function<List<BatchedDecode.Step>, List<float[]>> submit,
                 long maxWaitNanos) {
        Slot mine = new Slot(step);
        lock.lock();
        try {
            pending.add(mine);
            long deadline = System.nanoTime() + maxWaitNanos;
            while (!mine.done) {
                long left = deadline - System.nanoTime();
                if (!mine.taken && (pending.size() >= holders.getAsInt() || left <= 0)) {
                    runGroup(submit);
                } else {
                    try {
                        if (mine.taken) {
                            changed.await(); // another thread submitted this step: wait for its outcome
                        } else {
                            changed.awaitNanos(left);
                        }
                    } catch (InterruptedException e) {
                        if (!mine.taken) {
                            pending.remove(mine);
                            changed.signalAll();
                            Thread.currentThread().interrupt();
                            throw new ArborException(ArborException.Kind.CANCELLED, "interrupted while waiting "
                                    + "for the other requests of a batched decode step");
                        }
                        Thread.currentThread().interrupt();
                        while (!mine.done) {
                            changed.awaitUninterruptibly();
                        }
                    }
                }
            }
            if (mine.failure != null) {
                throw mine.failure;
            }
            return mine.result;
        } finally {
            lock.unlock();
        }
    }

    /** Submits every pending step (called under the lock; runs the group outside it). */
    private void runGroup(Function<List<BatchedDecode.Step>, List<float[]>> submit) {
        List<Slot> group = pending;
        pending = new ArrayList<>();
        List<BatchedDecode.Step> steps = new ArrayList<>(group.size());
        for (Slot s : group) {
            s.taken = true;
            steps.add(s.step);
        }
        List<float[]> results = null;
        RuntimeException failure = null;
        lock.unlock();
        try {
            results = submit.apply(steps);
        } catch (RuntimeException e) {
            failure = e;
        } finally {
            lock.lock();
        }
        for (int i = 0; i < group.size(); i++) {
            Slot s = group.get(i);
            s.result = failure == null ? results.get(i) : null;
            s.failure = failure;
            s.done = true;
        }
        changed.signalAll();
    }

    /** A holder let go of the batch: waiting steps may now be the whole group. */
    void holderLeft() {
        lock.lock();
        try {
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Steps waiting for their group. */
    int waiting() {
        lock.lock();
        try {
            return pending.size();
        } finally {
            lock.unlock();
        }
    }
}
