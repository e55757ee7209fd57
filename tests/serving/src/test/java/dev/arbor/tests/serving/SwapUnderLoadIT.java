package dev.arbor.tests.serving;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;
import org.osgi.framework.FrameworkEvent;
import org.osgi.framework.wiring.FrameworkWiring;

/**
 * Swap under load, over HTTP (the reduced CI version; the full one is {@code ServingBenchmark}): {@value #CLIENTS}
 * clients keep streaming completions on loopback while the pipeline's strategy is switched {@value #SWAPS} times
 * (autoregressive / beam search with 2 beams) and the sampling bundle is updated and refreshed {@value #UPDATES}
 * times. Nothing may fail or be truncated, every stream must be well-formed, and requests must actually be served
 * by each strategy in turn.
 *
 * <p>How the serving strategy is seen from outside: at temperature 0 both strategies are deterministic and, for the
 * prompts used (checked first), give different texts. The references are computed in-process before the load
 * starts; every streamed text must then equal one of them exactly, which also catches any cut-off or corrupted
 * stream, and says which strategy served it.
 */
class SwapUnderLoadIT {
    private static final String PIPELINE = "stories260k";
    private static final int CLIENTS = 8;
    private static final int SWAPS = 20;
    private static final int UPDATES = 5;
    private static final int MAX_TOKENS = 32;
    private static final List<String> PROMPTS = List.of("Once upon a time", "Lily and Ben");
    private static final PartRef BEAM = new PartRef("beam-search", Options.of(Map.of("num_beams", 2)));

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)   // the load is bounded at 45 s; this catches a hung swap
    void strategySwapsAndBundleUpdatesUnderStreamingLoadLoseNothing(@TempDir Path home) throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        try (RuntimeHarness runtime = new RuntimeHarness(home, models)) {
            PipelineService pipelines = runtime.pipelines();
            PipelineDefinition original = runtime.awaitReady(PIPELINE).definition();
            assertThat(original.generator().name()).isEqualTo("autoregressive");

            // references: what each strategy answers for each prompt
            Options greedy = Options.of(Map.of("temperature", 0, "max_tokens", MAX_TOKENS));
            Map<String, String> autoregressiveText = new HashMap<>();
            Map<String, String> beamText = new HashMap<>();
            Map<String, Set<String>> expected = new HashMap<>();
            for (String prompt : PROMPTS) {
                String a = pipelines.complete(CompletionRequest.text(PIPELINE, prompt, greedy), TextSink.DISCARD)
                        .text();
                String b = pipelines.complete(new CompletionRequest(PIPELINE, prompt, null, List.of(), BEAM, null,
                        greedy), TextSink.DISCARD).text();
                assertThat(b).as("prompt '%s' must tell the strategies apart", prompt).isNotEqualTo(a);
                autoregressiveText.put(prompt, a);
                beamText.put(prompt, b);
                expected.put(prompt, Set.of(a, b));
            }

            HttpEndpoints.configure(runtime.context(), Map.of("host", "127.0.0.1", "port", 0));
            URI uri = HttpEndpoints.await(runtime.context(), Duration.ofSeconds(20));

            LoadGenerator.Config config = LoadGenerator.Config.of(uri, PIPELINE, PROMPTS, MAX_TOKENS, CLIENTS)
                    .withExpectedTexts(expected).withRequestTimeout(Duration.ofSeconds(30));
            List<Switch> switches = new ArrayList<>();
            ConcurrentLinkedQueue<RequestResult> served = new ConcurrentLinkedQueue<>();
            List<Integer> inFlightAtChange = new ArrayList<>();
            FrameworkWiring wiring = runtime.context().getBundle(0).adapt(FrameworkWiring.class);
            LoadReport report;
            int updates = 0;
            try (LoadGenerator load = new LoadGenerator(config)) {
                LoadGenerator.Run run = load.start(Long.MAX_VALUE, Duration.ofSeconds(45), served::add);
                RuntimeHarness.await(() -> run.inFlight() == CLIENTS, 10_000, () -> "clients never all in flight");
                for (int i = 0; i < SWAPS; i++) {
                    boolean toBeam = i % 2 == 0;
                    PartRef next = toBeam ? BEAM : original.generator();
                    inFlightAtChange.add(run.inFlight());
                    long asked = System.nanoTime();
                    pipelines.define(original.withGenerator(next));   // returns once the pipeline uses it
                    long applied = System.nanoTime();
                    switches.add(new Switch(asked, applied, toBeam));
                    Map<String, String> nextText = toBeam ? beamText : autoregressiveText;
                    // a request sent after the switch was applied, answered by the new strategy
                    RuntimeHarness.await(() -> served.stream().anyMatch(r -> r.startNanos() > applied && r.ok()
                                    && r.text().equals(nextText.get(r.prompt()))), 15_000,
                            () -> "no request was served by " + next + " after switch " + switches.size()
                                    + "; so far: " + summary(served));
                    if (i % (SWAPS / UPDATES) == SWAPS / UPDATES - 1) {
                        inFlightAtChange.add(run.inFlight());
                        long t = System.nanoTime();
                        Bundle sampling = runtime.bundle("dev.arbor.sampling");
                        sampling.update();
                        refresh(wiring, sampling);
                        updates++;
                        RuntimeHarness.await(() -> served.stream().anyMatch(r -> r.startNanos() > t && r.ok()
                                        && r.text().equals(nextText.get(r.prompt()))), 15_000,
                                () -> "no request succeeded after sampling bundle update; so far: " + summary(served));
                    }
                }
                run.stop();
                report = run.await();
            } finally {
                pipelines.define(original);
            }

            System.out.printf("swap under load: %s; %d strategy switches, %d sampling updates; in flight at each"
                    + " change %s%n", report.summary(), switches.size(), updates, inFlightAtChange);
            assertThat(report.failed() + report.truncated() + report.malformed())
                    .as("failed, truncated or malformed responses:%n%s", report.problems(10)).isZero();
            assertThat(switches).hasSize(SWAPS);
            assertThat(updates).isEqualTo(UPDATES);
            assertThat(report.maxInFlight()).isEqualTo(CLIENTS);
            // the load really was concurrent while things changed: clients are only out of flight for the instant
            // between one response's end and the next request
            assertThat(inFlightAtChange.stream().mapToInt(Integer::intValue).average().orElse(0))
                    .as("mean requests in flight at switches and updates %s", inFlightAtChange)
                    .isGreaterThanOrEqualTo(CLIENTS - 1);
            // both strategies served, and each request sent while a strategy was in place got that strategy
            long byBeam = report.results().stream().filter(r -> r.text().equals(beamText.get(r.prompt()))).count();
            long byAutoregressive = report.results().stream()
                    .filter(r -> r.text().equals(autoregressiveText.get(r.prompt()))).count();
            assertThat(byBeam).isPositive();
            assertThat(byAutoregressive).isPositive();
            assertThat(byBeam + byAutoregressive).isEqualTo(report.results().size());
            // A request is only bound to a strategy when its whole life, from send to last byte, lies between one
            // switch being applied and the next being asked for: the server may queue a request before a worker
            // takes it, so one sent before a switch can legitimately be served after it (and vice versa).
            List<String> stale = new ArrayList<>();
            for (int i = 0; i < switches.size(); i++) {
                Switch s = switches.get(i);
                long until = i + 1 < switches.size() ? switches.get(i + 1).asked() : Long.MAX_VALUE;
                Map<String, String> want = s.toBeam() ? beamText : autoregressiveText;
                for (RequestResult r : report.results()) {
                    if (r.startNanos() > s.applied() && r.endNanos() < until
                            && !r.text().equals(want.get(r.prompt()))) {
                        stale.add(String.format("switch %d to %s: request sent %.1f ms after it was applied and"
                                        + " answered before the next was served by the previous strategy", i + 1,
                                s.toBeam() ? "beam-search" : "autoregressive", (r.startNanos() - s.applied()) / 1e6));
                    }
                }
            }
            assertThat(stale).as("requests sent and answered between two switches must use the strategy in place").isEmpty();
        }
    }

    /** One strategy switch: when it was asked for, when {@code define} returned, and to which strategy. */
    private record Switch(long asked, long applied, boolean toBeam) {
    }

    private static String summary(ConcurrentLinkedQueue<RequestResult> served) {
        return new LoadReport(new ArrayList<>(served), 0, CLIENTS, 0).problems(5) + " (" + served.size() + " served)";
    }

    private static void refresh(FrameworkWiring wiring, Bundle bundle) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        wiring.refreshBundles(List.of(bundle), event -> {
            if (event.getType() == FrameworkEvent.PACKAGES_REFRESHED) {
                done.countDown();
            }
        });
        assertThat(done.await(30, TimeUnit.SECONDS)).as("refresh of " + bundle.getSymbolicName()).isTrue();
    }
}
