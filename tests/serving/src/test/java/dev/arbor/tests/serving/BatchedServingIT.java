package dev.arbor.tests.serving;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Continuous batching end to end: {@value #CLIENTS} clients stream greedy completions over HTTP from the shipped
 * {@code stories260k-fused} pipeline at once, so the backend coalesces their decode steps into batched runs (seen on
 * {@code /metrics}: more steps than runs), and every streamed text must equal what the reference-graph pipeline
 * {@code stories260k} answers for that prompt alone: batching, the fused graph and the in-place KV arena change
 * nothing a client sees.
 */
class BatchedServingIT {
    private static final int CLIENTS = 8;
    private static final int MAX_TOKENS = 48;
    private static final int REQUESTS = 64;
    private static final List<String> PROMPTS = List.of("Once upon a time", "Lily and Ben", "The dog",
            "One day, a little girl named");
    private static final Pattern SUMMARY = Pattern.compile("(?m)^arbor_engine_batch_size_(count|sum)\\S* (\\S+)$");

    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void concurrentStreamsAreBatchedAndGetTheirSoloTokens(@TempDir Path home) throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        try (RuntimeHarness runtime = new RuntimeHarness(home, models)) {
            PipelineService pipelines = runtime.pipelines();
            runtime.awaitReady("stories260k");
            runtime.awaitReady("stories260k-fused");
            Options greedy = Options.of(Map.of("temperature", 0, "max_tokens", MAX_TOKENS));
            Map<String, Set<String>> expected = new HashMap<>();
            for (String prompt : PROMPTS) {
                String reference = pipelines.complete(CompletionRequest.text("stories260k", prompt, greedy),
                        TextSink.DISCARD).text();
                expected.put(prompt, Set.of(reference));
            }

            HttpEndpoints.configure(runtime.context(), Map.of("host", "127.0.0.1", "port", 0, "workers", CLIENTS));
            URI uri = HttpEndpoints.await(runtime.context(), Duration.ofSeconds(20));
            LoadGenerator.Config config = LoadGenerator.Config.of(uri, "stories260k-fused", PROMPTS, MAX_TOKENS,
                    CLIENTS).withExpectedTexts(expected).withRequestTimeout(Duration.ofSeconds(60));
            LoadReport report;
            try (LoadGenerator load = new LoadGenerator(config)) {
                report = load.start(REQUESTS, Duration.ofSeconds(90), r -> { }).await();
            }
            System.out.printf("batched serving: %s%n", report.summary());
            assertThat(report.failed() + report.truncated() + report.malformed())
                    .as("failed, truncated, malformed or different from the solo reference:%n%s", report.problems(10))
                    .isZero();
            assertThat(report.ok()).isEqualTo(REQUESTS);

            Map<String, Double> batches = batchSummary(uri);
            assertThat(batches).as("/metrics batch summary").containsKeys("count", "sum");
            assertThat(batches.get("sum")).as("steps run in batches of more than one (runs: %s)", batches.get("count"))
                    .isGreaterThan(batches.get("count"));
        }
    }

    /** {@code count} (runs) and {@code sum} (steps) of the batch-size summary on {@code /metrics}. */
    private static Map<String, Double> batchSummary(URI uri) throws Exception {
        HttpResponse<String> metrics = HttpClient.newHttpClient().send(
                HttpRequest.newBuilder(uri.resolve("/metrics")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(metrics.statusCode()).isEqualTo(200);
        Map<String, Double> values = new HashMap<>();
        Matcher m = SUMMARY.matcher(metrics.body());
        while (m.find()) {
            values.merge(m.group(1), Double.parseDouble(m.group(2)), Double::sum);
        }
        return values;
    }
}
