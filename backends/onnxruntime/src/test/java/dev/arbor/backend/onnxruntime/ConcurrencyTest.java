package dev.arbor.backend.onnxruntime;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Several requests run at once; closing the backend under load waits for them and never frees a running session. */
class ConcurrencyTest {
    @Test
    void closeUnderLoadLetsRunningCallsFinishAndRefusesNewOnes() throws Exception {
        OnnxDecoderBackend backend = Gpt2Fixture.openGpt2();
        int threads = 3;
        CountDownLatch started = new CountDownLatch(threads);
        AtomicInteger completed = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        AtomicReference<Throwable> unexpected = new AtomicReference<>();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int seed = t;
            Thread w = new Thread(() -> {
                started.countDown();
                try (DecodeState state = backend.newState(1)) {
                    int token = 10 + seed;
                    while (true) {
                        if (state.length() > 200) {
                            state.truncate(0);
                        }
                        float[] l = backend.forward(ForwardRequest.next(new int[][] {{token}}, state)).last(0);
                        assertThat(l).hasSize(1000);
                        token = Gpt2Fixture.argmax(l);
                        completed.incrementAndGet();
                    }
                } catch (ArborException e) {
                    if (e.kind() == ArborException.Kind.UNAVAILABLE) {
                        refused.incrementAndGet();
                    } else {
                        unexpected.set(e);
                    }
                } catch (Throwable e) {
                    unexpected.set(e);
                }
            });
            workers.add(w);
            w.start();
        }
        started.await();
        while (completed.get() < 50) {
            Thread.sleep(5);
        }
        backend.close();
        for (Thread w : workers) {
            w.join(60_000);   // ends at once once close() is seen; the deadline only ends a broken run
            assertThat(w.isAlive()).isFalse();
        }
        assertThat(unexpected.get()).isNull();
        assertThat(refused.get()).isEqualTo(threads);
        assertThat(completed.get()).isGreaterThanOrEqualTo(50);
    }
}
