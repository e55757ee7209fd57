package dev.arbor.testkit;

import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Waiting in tests for an event that must happen and that nothing signals (a metric counted after the client already
 * has its answer, a bundle starting in another process). The deadline only ends a test whose event never comes, so
 * it is generous: on a loaded shared machine such events come seconds later than on a quiet one.
 */
public final class Await {
    /** How long {@link #until} waits at the most. */
    public static final long DEADLINE_MILLIS = 60_000;

    private Await() {
    }

    /**
     * Polls {@code condition} every few milliseconds until it holds.
     *
     * @throws AssertionError naming {@code what} when it does not hold within {@link #DEADLINE_MILLIS}
     */
    public static void until(BooleanSupplier condition, Supplier<String> what) {
        long deadline = System.nanoTime() + DEADLINE_MILLIS * 1_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + DEADLINE_MILLIS + " ms waiting for " + what.get());
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while waiting for " + what.get(), e);
            }
        }
    }
}
