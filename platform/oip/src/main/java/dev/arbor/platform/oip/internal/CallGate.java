package dev.arbor.platform.oip.internal;

/**
 * Counts the inference calls being served and, once closed, lets no new one in: the step of a graceful stop after
 * which the calls inside get a grace period to finish.
 */
final class CallGate {
    private int inside;
    private boolean closed;

    /** Counts a call in; false once closed (the server is stopping: answer UNAVAILABLE). */
    synchronized boolean enter() {
        if (closed) {
            return false;
        }
        inside++;
        return true;
    }

    /** Counts out a call that {@link #enter() entered}. */
    synchronized void exit() {
        inside--;
        if (inside == 0) {
            notifyAll();
        }
    }

    synchronized void close() {
        closed = true;
    }

    synchronized boolean closed() {
        return closed;
    }

    /** Waits up to {@code millis} for the calls inside to leave; true when none is left. */
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
}
