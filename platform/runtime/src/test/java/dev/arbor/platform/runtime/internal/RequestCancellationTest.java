package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.generation.Cancellation;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** A request's cancellation: its deadline, and an interrupt of the thread running it (the server's cancel). */
class RequestCancellationTest {

    @Test
    void anInterruptOfTheRunningThreadCancelsFromAnyThread() throws Exception {
        AtomicBoolean before = new AtomicBoolean(true);
        AtomicBoolean after = new AtomicBoolean();
        Cancellation[] seen = new Cancellation[1];
        Thread worker = new Thread(() -> {
            Cancellation c = RequestCancellation.forCurrentThread(System.nanoTime(), 0);
            seen[0] = c;
            before.set(c.isCancelled());
            while (!c.isCancelled()) {
                Thread.onSpinWait(); // a generator's step loop
            }
            after.set(true);
        });
        worker.start();
        while (seen[0] == null) {
            Thread.sleep(1);
        }
        worker.interrupt(); // what Workers do when the client leaves or the deadline passes
        worker.join(10_000);
        assertThat(before).isFalse();
        assertThat(after).as("the loop saw the interrupt as its cancellation").isTrue();
        assertThat(seen[0].isCancelled()).as("checked from another thread").isTrue();
    }

    @Test
    void theDeadlineCancelsWithoutAnInterrupt() {
        assertThat(RequestCancellation.forCurrentThread(System.nanoTime(), 60_000).isCancelled()).isFalse();
        assertThat(RequestCancellation.forCurrentThread(System.nanoTime() - 2_000_000_000L, 1_000).isCancelled())
                .isTrue();
        assertThat(RequestCancellation.forCurrentThread(System.nanoTime() - 2_000_000_000L, 0).isCancelled())
                .as("0 = no deadline").isFalse();
    }
}
