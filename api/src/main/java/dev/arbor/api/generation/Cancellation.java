package dev.arbor.api.generation;

/** Lets a generator notice that its request was cancelled or ran past its deadline; checked once per step. */
@FunctionalInterface
public interface Cancellation {

    /** True once the request should stop. */
    boolean isCancelled();

    Cancellation NEVER = () -> false;

    /** Cancelled once {@code System.nanoTime()} passes {@code deadlineNanos}. */
    static Cancellation deadline(long deadlineNanos) {
        return () -> System.nanoTime() - deadlineNanos > 0;
    }
}
