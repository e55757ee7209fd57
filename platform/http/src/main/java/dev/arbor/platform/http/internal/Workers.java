package dev.arbor.platform.http.internal;

import dev.arbor.api.ArborException;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs generations with a hard deadline: at most {@code size} at once (a permit each), each on its own worker
 * thread so that the HTTP thread can give up on it. A task still running at its deadline is interrupted and
 * abandoned: its permit is returned at once, so a plugin that never returns costs one parked thread, never the
 * server's capacity.
 */
final class Workers implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("dev.arbor.http");
    private final int size;
    private final Semaphore permits;
    private final ExecutorService threads;
    private final Runnable onAbandon;

    Workers(int size, ClassLoader contextLoader, Runnable onAbandon) {
        this.size = size;
        this.permits = new Semaphore(size, true);
        this.onAbandon = onAbandon;
        AtomicInteger count = new AtomicInteger();
        this.threads = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "arbor-http-worker-" + count.incrementAndGet());
            t.setDaemon(true); // an abandoned, stuck worker must not keep the JVM alive
            t.setContextClassLoader(contextLoader);
            return t;
        });
    }

    /**
     * Runs {@code task} and returns its result, or fails: 503 when no worker frees up before the deadline, 504 when
     * the task passes {@code deadlineNanos + graceNanos}; the task's own failures are rethrown unwrapped.
     */
    <T> T call(String requestId, Callable<T> task, long deadlineNanos, long graceNanos, long timeoutMillis) {
        try {
            if (!permits.tryAcquire(Math.max(0, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                throw new ApiError(503, "service_unavailable_error", null, "server_busy", "all " + size
                        + " workers of this server stayed busy until the request's deadline of " + timeoutMillis
                        + " ms; retry later or raise 'workers'");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw stopping();
        }
        AtomicBoolean released = new AtomicBoolean();
        Runnable release = () -> {
            if (released.compareAndSet(false, true)) {
                permits.release();
            }
        };
        java.util.concurrent.atomic.AtomicReference<Thread> runner = new java.util.concurrent.atomic.AtomicReference<>();
        Future<T> future;
        try {
            future = threads.submit(() -> {
                runner.set(Thread.currentThread());
                try {
                    return task.call();
                } finally {
                    release.run();
                }
            });
        } catch (RuntimeException e) {
            release.run();
            throw stopping();
        }
        try {
            return future.get(Math.max(0, deadlineNanos + graceNanos - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (TimeoutException e) {
            future.cancel(true);
            if (!released.get()) {
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
            throw stopping();
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

    private static ApiError stopping() {
        return new ApiError(503, "service_unavailable_error", null, "server_stopping",
                "the server is stopping; retry on another instance or after the restart");
    }

    @Override
    public void close() {
        threads.shutdownNow();
    }
}
