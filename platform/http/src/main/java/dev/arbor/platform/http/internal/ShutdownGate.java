package dev.arbor.platform.http.internal;

/**
 * Counts the requests being handled and, once closed, lets no new one in: the first step of a graceful shutdown,
 * after which the requests inside may finish within a grace period.
 */
final class ShutdownGate {
    private int inside;
    private boolean closed;

    /** Counts a request in; false once the gate is closed (the server is stopping: answer 503). */
    synchronized boolean enter() {
        if (closed) {
            return false;
        }
        inside++;
        return true;
    }

    /** Counts out a request that {@link #enter() entered}, once. */
    synchronized void exit() {
        inside--;
        if (inside == 0) {
            notifyAll();
        }
    }

    /** Lets no new request in. */
    synchronized void close() {
        closed = true;
    }

    /** Waits up to {@code millis} for the requests inside to leave; true when none is left. */
    synchronized boolean awaitEmpty(long millis) throws InterruptedException {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        while (inside > 0) {
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) {
                return false;
            }
            wait(left);
        }
        return true;
    }

    synchronized int inside() {
        return inside;
    }
}
