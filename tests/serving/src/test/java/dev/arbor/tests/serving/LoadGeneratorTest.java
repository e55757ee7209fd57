package dev.arbor.tests.serving;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The load generator against a local stand-in server: bounds, concurrency, statistics, and every failure kind. */
class LoadGeneratorTest {

    private static LoadReport run(FakeCompletionServer server, String prompt, int requests, int concurrency)
            throws InterruptedException {
        LoadGenerator.Config config = LoadGenerator.Config.of(server.uri(), "stories260k", List.of(prompt), 8,
                concurrency).withRequestTimeout(Duration.ofSeconds(10));
        try (LoadGenerator load = new LoadGenerator(config)) {
            return load.run(requests, Duration.ofSeconds(30));
        }
    }

    @Test
    void correctStreamsAreOkAndCountedAtTheRequestedConcurrency() throws Exception {
        try (FakeCompletionServer server = new FakeCompletionServer()) {
            server.chunkDelayMillis = 5;   // 8 chunks x 5 ms: each response lasts at least 35 ms
            // The first 4 requests stream only once all 4 are inside the server: they overlap by construction, so
            // "saw 4" does not depend on how the threads happen to be scheduled.
            server.gate = FakeCompletionServer.Gate.opensAt(4);
            LoadReport report = run(server, "good", 40, 4);
            assertThat(report.results()).hasSize(40);   // bounded by the request count, not one more
            assertThat(report.ok()).as(report.problems(5)).isEqualTo(40);
            assertThat(report.tokens()).isEqualTo(40 * 8);
            assertThat(report.maxInFlight()).isEqualTo(4);
            assertThat(server.maxActive.get()).isEqualTo(4);
            assertThat(report.results()).allSatisfy(r -> {
                assertThat(r.text()).isEqualTo("w0 w1 w2 w3 w4 w5 w6 w7 ");
                assertThat(r.finishReason()).isEqualTo("length");
                assertThat(r.timeToFirstTokenNanos()).isPositive().isLessThan(r.latencyNanos());
            });
            // each request streams 8 chunks 5 ms apart: latency at least 35 ms
            assertThat(report.latencyMillis(50)).isGreaterThanOrEqualTo(35);
            assertThat(report.latencyMillis(99)).isGreaterThanOrEqualTo(report.latencyMillis(50));
            assertThat(report.tokensPerSecond()).isPositive();
            assertThat(report.summary()).contains("ok 40, failed 0, truncated 0, malformed 0");
        }
    }

    @Test
    void expectedTextsAreChecked() throws Exception {
        try (FakeCompletionServer server = new FakeCompletionServer()) {
            LoadGenerator.Config config = LoadGenerator.Config.of(server.uri(), "stories260k", List.of("good"), 3, 2)
                    .withExpectedTexts(Map.of("good", Set.of("w0 w1 x2 ")));
            try (LoadGenerator load = new LoadGenerator(config)) {
                LoadReport report = load.run(4, Duration.ofSeconds(30));
                assertThat(report.malformed()).isEqualTo(4);
                assertThat(report.problems(3)).contains("matches no expected text: w0 w1 w2 ");
            }
        }
    }

    @Test
    void everyKindOfBrokenStreamIsCaught() throws Exception {
        try (FakeCompletionServer server = new FakeCompletionServer()) {
            assertOutcome(run(server, "error", 3, 2), Outcome.FAILED, "HTTP 503: {\"error\"");
            assertOutcome(run(server, "truncated", 3, 2), Outcome.TRUNCATED, "without [DONE]");
            assertOutcome(run(server, "no-finish", 3, 2), Outcome.TRUNCATED, "no finish_reason");
            assertOutcome(run(server, "short", 3, 2), Outcome.TRUNCATED, "usage.completion_tokens = 7 of max_tokens 8");
            assertOutcome(run(server, "cut-event", 3, 2), Outcome.TRUNCATED, "inside an event");
            assertOutcome(run(server, "malformed", 3, 2), Outcome.MALFORMED, "is not JSON");
            assertOutcome(run(server, "double-done", 3, 2), Outcome.MALFORMED, "[DONE] sent 2 times");
            assertOutcome(run(server, "wrong-type", 3, 2), Outcome.MALFORMED, "expected text/event-stream");
            // and a correct stream that ends on "stop" before max_tokens is fine
            assertThat(run(server, "stop", 3, 2).ok()).isEqualTo(3);
        }
    }

    @Test
    void aServerThatStopsSendingIsCutOffAtTheRequestDeadline() throws Exception {
        try (FakeCompletionServer server = new FakeCompletionServer()) {
            LoadGenerator.Config config = LoadGenerator.Config.of(server.uri(), "stories260k", List.of("hang"), 8, 2)
                    .withRequestTimeout(Duration.ofMillis(500));
            try (LoadGenerator load = new LoadGenerator(config)) {
                long t0 = System.nanoTime();
                LoadReport report = load.run(2, Duration.ofSeconds(30));
                assertThat((System.nanoTime() - t0) / 1e6).isLessThan(5_000);
                assertOutcome(report, Outcome.FAILED, "no end of stream within 500 ms");
                // the deadline's interrupt must not leak into the client's next request
                server.release.countDown();
                LoadGenerator.Config good = config.withRequestTimeout(Duration.ofSeconds(10));
                try (LoadGenerator again = new LoadGenerator(good.withConcurrency(1))) {
                    assertThat(again.run(1, Duration.ofSeconds(10)).failed()).isZero();
                }
            }
        }
    }

    @Test
    void aRunIsBoundedByItsDurationAndCanBeStopped() throws Exception {
        try (FakeCompletionServer server = new FakeCompletionServer()) {
            server.chunkDelayMillis = 5;
            LoadGenerator.Config config = LoadGenerator.Config.of(server.uri(), "stories260k", List.of("good"), 8, 3);
            try (LoadGenerator load = new LoadGenerator(config)) {
                long t0 = System.nanoTime();
                LoadReport timed = load.run(Long.MAX_VALUE, Duration.ofMillis(400));
                // bounded by the duration (an unbounded run of Long.MAX_VALUE requests would never return); the
                // upper limit only says "ended soon after", with room for a loaded machine
                assertThat((System.nanoTime() - t0) / 1e6).isBetween(400.0, 10_000.0);
                assertThat(timed.ok()).isEqualTo(timed.results().size()).isPositive();

                // held in the server: all 3 streams are open at once until the test lets them go on
                FakeCompletionServer.Gate held = FakeCompletionServer.Gate.held(3);
                server.gate = held;
                LoadGenerator.Run run = load.start(Long.MAX_VALUE, Duration.ofMinutes(1), r -> { });
                assertThat(held.arrived().await(60, TimeUnit.SECONDS)).as("3 requests reached the server").isTrue();
                assertThat(run.inFlight()).isEqualTo(3);
                run.stop();
                held.proceed().countDown();
                LoadReport stopped = run.await();
                assertThat(stopped.results()).hasSize(3);   // stopped while the first 3 were open: no new ones
                assertThat(run.finished()).isTrue();
                assertThat(stopped.ok()).isEqualTo(stopped.results().size());
            }
        }
    }

    private static void assertOutcome(LoadReport report, Outcome outcome, String problem) {
        assertThat(report.count(outcome)).as(report.problems(5)).isEqualTo(report.results().size()).isPositive();
        assertThat(report.ok()).isZero();
        assertThat(report.problems(5)).contains(problem);
    }
}
