package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;
import org.osgi.framework.FrameworkEvent;
import org.osgi.framework.wiring.FrameworkWiring;

/**
 * Hot swap in a real framework: while two threads keep generating, install a higher-ranked selector bundle,
 * uninstall it, update the sampling bundle and reconfigure the pipeline's strategy. No request may fail; new
 * requests must use the new part. Then remove a part the pipeline needs: it reports the missing part until the
 * part returns.
 */
class HotSwapIT {
    private static final int CYCLES = 5;

    @Test
    void swapsUnderLoadFailNoRequestAndNewRequestsUseTheNewPart(@TempDir Path home) throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        try (RuntimeHarness runtime = new RuntimeHarness(home, models)) {
            PipelineService pipelines = runtime.pipelines();
            PipelineDefinition original = runtime.awaitReady("stories260k").definition();
            Options greedy = Options.of(Map.of("temperature", 0, "max_tokens", 16));
            int[] normal = pipelines.complete(CompletionRequest.text("stories260k", "Once", greedy),
                    TextSink.DISCARD).tokens();

            AtomicBoolean running = new AtomicBoolean(true);
            AtomicInteger requests = new AtomicInteger();
            ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
            AtomicReference<Observed> latest = new AtomicReference<>();
            ConcurrentLinkedQueue<Observed> observed = new ConcurrentLinkedQueue<>();
            CountDownLatch started = new CountDownLatch(2);
            Thread[] load = new Thread[2];
            for (int t = 0; t < load.length; t++) {
                load[t] = new Thread(() -> {
                    started.countDown();
                    while (running.get()) {
                        try {
                            long start = System.nanoTime();
                            Observed o = new Observed(start, pipelines.complete(
                                    CompletionRequest.text("stories260k", "Once", greedy), TextSink.DISCARD));
                            latest.set(o);
                            observed.add(o);
                            requests.incrementAndGet();
                        } catch (Throwable e) {
                            failures.add(e);
                        }
                    }
                }, "load-" + t);
                load[t].start();
            }
            started.await();
            FrameworkWiring wiring = runtime.context().getBundle(0).adapt(FrameworkWiring.class);
            Path runnerUpJar = Path.of(System.getProperty("arbor.testBundles", "target/test-bundles"),
                    "runner-up-selector.jar");
            runtime.trust(runnerUpJar); // a bundle from outside the installation resolves only when trusted
            String runnerUp = runnerUpJar.toUri().toString();
            long[] toNew = new long[CYCLES];
            long[] toOld = new long[CYCLES];
            long[] uninstalled = new long[CYCLES];   // when b.uninstall() had returned
            long[] nextChange = new long[CYCLES];    // when the next change to the selectors began
            for (int cycle = 0; cycle < CYCLES; cycle++) {
                // a higher-ranked 'sample' selector arrives: new requests must use it
                long t0 = System.nanoTime();
                if (cycle > 0) {
                    nextChange[cycle - 1] = t0;
                }
                Bundle b = runtime.context().installBundle(runnerUp);
                b.start();
                RuntimeHarness.await(() -> latestIsNot(latest, normal, t0), 10_000,
                        () -> "requests never used the installed higher-ranked selector");
                toNew[cycle] = System.nanoTime() - t0;
                // and leaves: new requests fall back to the real selector
                long t1 = System.nanoTime();
                b.uninstall();
                long gone = System.nanoTime();
                uninstalled[cycle] = gone;
                refresh(wiring, List.of(b));
                RuntimeHarness.await(() -> latestIs(latest, normal, gone), 10_000,
                        () -> "requests did not return to the real selector after uninstall");
                toOld[cycle] = System.nanoTime() - t1;
            }
            nextChange[CYCLES - 1] = System.nanoTime();
            // update the sampling bundle in place (stop, reload, start) and refresh its wiring
            Bundle sampling = runtime.bundle("dev.arbor.sampling");
            for (int i = 0; i < 3; i++) {
                long t2 = System.nanoTime();
                sampling.update();
                refresh(wiring, List.of(sampling));
                RuntimeHarness.await(() -> latestIs(latest, normal, t2), 10_000,
                        () -> "requests did not succeed after the sampling bundle was updated");
            }
            // reconfigure the pipeline's strategy through Config Admin: new requests use beam search
            long t3 = System.nanoTime();
            pipelines.define(original.withGenerator(new PartRef("beam-search", Options.of(Map.of("num_beams", 2)))));
            RuntimeHarness.await(() -> {
                Observed o = latest.get();
                return o != null && o.start() > t3 && "beam-search".equals(o.completion().stats().get("generator"));
            }, 10_000, () -> "requests never used the reconfigured strategy");
            long reconfigured = System.nanoTime() - t3;
            long t4 = System.nanoTime();
            pipelines.define(original);
            RuntimeHarness.await(() -> latestIs(latest, normal, t4), 10_000,
                    () -> "requests did not return to the autoregressive strategy");
            running.set(false);
            for (Thread t : load) {
                t.join(30_000);
            }
            System.out.printf("hot swap: %d requests, %d failed; install->first use ms %s; uninstall->fallback ms %s;"
                    + " reconfigure->use %.1f ms%n", requests.get(), failures.size(), millis(toNew), millis(toOld),
                    reconfigured / 1e6);
            assertThat(failures).as("requests that failed during swaps").isEmpty();
            // once an uninstall has returned, no request that starts afterwards may resolve the removed part
            for (int cycle = 0; cycle < CYCLES; cycle++) {
                long from = uninstalled[cycle];
                long to = nextChange[cycle];
                assertThat(observed.stream().filter(o -> o.start() > from && o.start() < to)
                        .map(o -> o.completion().tokens()))
                        .as("requests started after the runner-up bundle was uninstalled (cycle %d)", cycle)
                        .isNotEmpty().allSatisfy(tokens -> assertThat(tokens).containsExactly(normal));
            }
            assertThat(requests.get()).isGreaterThan(CYCLES * 2);

            // a part the pipeline needs goes away: the pipeline says which, and comes back with the part
            Bundle autoregressive = runtime.bundle("dev.arbor.generation.autoregressive");
            autoregressive.stop();
            assertThat(pipelines.status("stories260k").orElseThrow().describe())
                    .isEqualTo("unavailable: needs generator 'autoregressive'");
            assertThatThrownBy(() -> pipelines.complete(CompletionRequest.text("stories260k", "Once", greedy),
                    TextSink.DISCARD)).isInstanceOf(ArborException.class)
                    .hasMessageContaining("unavailable: needs generator 'autoregressive'")
                    .extracting(e -> ((ArborException) e).kind()).isEqualTo(ArborException.Kind.UNAVAILABLE);
            autoregressive.start();
            runtime.awaitReady("stories260k");
            assertThat(pipelines.complete(CompletionRequest.text("stories260k", "Once", greedy), TextSink.DISCARD)
                    .tokens()).containsExactly(normal);
        }
    }

    /** A completion and when its request started. */
    private record Observed(long start, Completion completion) {
    }

    /** The latest completion, from a request that started after {@code since}, differs from {@code normal}. */
    private static boolean latestIsNot(AtomicReference<Observed> latest, int[] normal, long since) {
        Observed o = latest.get();
        return o != null && o.start() > since && !Arrays.equals(o.completion().tokens(), normal);
    }

    /** The latest completion, from a request that started after {@code since}, is the normal greedy output. */
    private static boolean latestIs(AtomicReference<Observed> latest, int[] normal, long since) {
        Observed o = latest.get();
        return o != null && o.start() > since && Arrays.equals(o.completion().tokens(), normal)
                && "autoregressive".equals(o.completion().stats().get("generator"));
    }

    private static void refresh(FrameworkWiring wiring, List<Bundle> bundles) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        wiring.refreshBundles(bundles, event -> {
            if (event.getType() == FrameworkEvent.PACKAGES_REFRESHED) {
                done.countDown();
            }
        });
        done.await();
    }

    private static String millis(long[] nanos) {
        return Arrays.toString(Arrays.stream(nanos).mapToObj(n -> String.format("%.1f", n / 1e6)).toArray());
    }
}
