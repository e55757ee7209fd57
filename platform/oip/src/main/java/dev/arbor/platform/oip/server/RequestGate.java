package dev.arbor.platform.oip.server;

/**
 * Counts the requests (HTTP requests, gRPC calls) being served and, once closed, lets no new one in: the step of a
 * graceful stop after which the requests inside get a grace period to finish. One per front end.
 */
public final class RequestGate {
    private int inside;
    private boolean closed;

    /** Counts a request in; false once closed (the server is stopping: answer 503 / UNAVAILABLE). */
    public synchronized boolean enter() {
        if (closed) {
            return false;
        }
        inside++;
        return true;
    }

    /** Counts out a request that {@link #enter() entered}, once. */
    public synchronized void exit() {
        inside--;
        if (inside == 0) {
            notifyAll();
        }
    }

    /** Lets no new request in. */
    public synchronized void close() {
        closed = true;
    }

    public synchronized boolean closed() {
        return closed;
    }

    /** The requests inside now. */
    public synchronized int inside() {
        return inside;
    }

    /** Waits up to {@code millis} for the requests inside to leave; true when none is left. */
    public synchronized boolean awaitEmpty(long millis) throws InterruptedException {
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
}
