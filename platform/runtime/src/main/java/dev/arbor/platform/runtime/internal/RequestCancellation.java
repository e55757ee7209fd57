package dev.arbor.platform.runtime.internal;

import dev.arbor.api.generation.Cancellation;

/**
 * A request's {@link Cancellation}: cancelled once its deadline ({@code timeout_ms}) passes or once the thread that
 * runs it is interrupted. Servers cancel a request whose client left, or whose hard deadline passed, by interrupting
 * its worker; this makes every generator that checks its cancellation once per step stop there, instead of running
 * its whole budget for nobody.
 */
final class RequestCancellation implements Cancellation {
    private final long deadlineNanos;
    private final boolean hasDeadline;
    private final Thread runner;

    private RequestCancellation(long deadlineNanos, boolean hasDeadline, Thread runner) {
        this.deadlineNanos = deadlineNanos;
        this.hasDeadline = hasDeadline;
        this.runner = runner;
    }

    /** For the request running on the current thread, started at {@code startNanos}; no deadline when 0. */
    static Cancellation forCurrentThread(long startNanos, long timeoutMillis) {
        return new RequestCancellation(startNanos + timeoutMillis * 1_000_000L, timeoutMillis > 0,
                Thread.currentThread());
    }

    @Override
    public boolean isCancelled() {
        return runner.isInterrupted() || hasDeadline && System.nanoTime() - deadlineNanos > 0;
    }
}
