package dev.arbor.platform.http.internal;

import dev.arbor.api.ArborException;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Runs generations with a hard deadline: at most {@code size} at once (a permit each), each on its own worker
 * thread so that the HTTP thread can give up on it. A task still running at its deadline is interrupted and
 * abandoned: its permit is returned at once, so a plugin that never returns costs one parked thread, never the
 * server's capacity. A task is cancelled by interrupting its thread, at its deadline and as soon as its client
 * leaves; the platform turns the interrupt into the generation's {@code Cancellation}, so cooperating parts stop
 * within one step. {@link #running()} counts tasks whose threads still run, abandoned ones included. Once
 * {@link #drain() draining} (the server is stopping), requests still waiting for a worker and new ones are refused
 * with 503, while those already running go on.
 */
final class Workers implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("dev.arbor.http");
    private final int size;
    /** Guards {@link #free} and {@link #draining}; fair, so that waiting requests get workers in arrival order. */
    private final ReentrantLock lock = new ReentrantLock(true);
    private final Condition changed = lock.newCondition();
    private int free;
    private boolean draining;
    private final ExecutorService threads;
    private final Runnable onAbandon;
    private final AtomicInteger running = new AtomicInteger();
    /** How long an interrupted task gets to end before it counts as abandoned. */
    private static final long STOP_WAIT_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    Workers(int size, ClassLoader contextLoader, Runnable onAbandon) {
        this.size = size;
        this.free = size;
        this.onAbandon = onAbandon;
        AtomicInteger count = new AtomicInteger();
        this.threads = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "arbor-http-worker-" + count.incrementAndGet());
            t.setDaemon(true); // an abandoned, stuck worker must not keep the JVM alive
            t.setContextClassLoader(contextLoader);
            return t;
        });
    }

    /** Tasks whose worker threads are still running, including abandoned ones that passed their deadline. */
    int running() {
        return running.get();
    }

    /**
     * Runs {@code task} and returns its result, or fails: 503 when no worker frees up before the deadline, 504 when
     * the task passes {@code deadlineNanos + graceNanos}, 499 when {@code departure} sees the client leave (the task
     * is interrupted then); the task's own failures are rethrown unwrapped.
     */
    <T> T call(String requestId, Callable<T> task, long deadlineNanos, long graceNanos, long timeoutMillis,
               ClientDeparture departure) {
        acquire(deadlineNanos, timeoutMillis);
        AtomicBoolean released = new AtomicBoolean();
        Runnable release = () -> {
            if (released.compareAndSet(false, true)) {
                release();
            }
        };
        if (departure.departed()) {
            release.run(); // the client left while the request waited for a worker: nothing to start
            throw ApiError.clientLeft();
        }
        java.util.concurrent.CountDownLatch finished = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicReference<Thread> runner = new java.util.concurrent.atomic.AtomicReference<>();
        Future<T> future;
        try {
            future = threads.submit(() -> {
                runner.set(Thread.currentThread());
                running.incrementAndGet();
                try {
                    return task.call();
                } finally {
                    running.decrementAndGet();
                    release.run();
                    finished.countDown();
                }
            });
        } catch (RuntimeException e) {
            release.run();
            throw ApiError.stopping();
        }
        Future<T> submitted = future;
        departure.onDeparture(() -> submitted.cancel(true));
        try {
            return future.get(Math.max(0, deadlineNanos + graceNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.CancellationException e) {
            LOG.log(System.Logger.Level.INFO, "[" + requestId + "] the client left; its worker was interrupted");
            throw ApiError.clientLeft();
        } catch (TimeoutException e) {
            future.cancel(true);
            // the interrupt is the task's cancellation: a cooperating task ends within a step, only others are stuck
            if (!awaitQuietly(finished, Math.min(graceNanos, STOP_WAIT_NANOS)) && !released.get()) {
                Thread stuck = runner.get();
                LOG.log(System.Logger.Level.WARNING, "[" + requestId + "] abandoned worker "
                        + (stuck == null ? "(not started)" : stuck.getName()) + " still running at the deadline of "
                        + timeoutMillis + " ms" + (stuck == null ? "" : " in " + where(stuck)));
                release.run();
                onAbandon.run();
            }
            throw ApiError.timeout(timeoutMillis);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof ApiError a) {
                throw a;
            }
            if (cause instanceof ArborException a) {
                throw a;
            }
            throw new ApiError(500, "server_error", null, "internal_error", "generation failed: " + cause)
                    .causedBy(cause);
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw ApiError.stopping();
        }
    }

    /** Takes a worker, waiting until the deadline: 503 when none frees up in time or the server is draining. */
    private void acquire(long deadlineNanos, long timeoutMillis) {
        lock.lock();
        try {
            while (free == 0 && !draining) {
                long left = deadlineNanos - System.nanoTime();
                if (left <= 0) {
                    throw new ApiError(503, "service_unavailable_error", null, "server_busy", "all " + size
                            + " workers of this server stayed busy until the request's deadline of " + timeoutMillis
                            + " ms; retry later or raise 'workers'", 1);
                }
                changed.awaitNanos(left);
            }
            if (draining) {
                throw ApiError.stopping();
            }
            free--;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiError.stopping();
        } finally {
            lock.unlock();
        }
    }

    private void release() {
        lock.lock();
        try {
            free++;
            changed.signal();
        } finally {
            lock.unlock();
        }
    }

    /** How many requests wait for a worker now. */
    int waiting() {
        lock.lock();
        try {
            return lock.getWaitQueueLength(changed);
        } finally {
            lock.unlock();
        }
    }

    /** From now on refuses waiting and new requests with 503 (the server is stopping); running ones go on. */
    void drain() {
        lock.lock();
        try {
            draining = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private static boolean awaitQuietly(java.util.concurrent.CountDownLatch latch, long nanos) {
        try {
            return latch.await(nanos, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** The top frames of a stuck thread, so the log says which plugin hangs. */
    private static String where(Thread t) {
        StackTraceElement[] stack = t.getStackTrace();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(4, stack.length); i++) {
            sb.append(i == 0 ? "" : " < ").append(stack[i]);
        }
        return sb.toString();
    }

    @Override
    public void close() {
        threads.shutdownNow();
    }
}
