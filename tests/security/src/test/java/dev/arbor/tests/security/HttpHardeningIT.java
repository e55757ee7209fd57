package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Hostile but well-formed HTTP probes: deep JSON, odd prompts, client-chosen names in metrics, and SIGTERM. */
class HttpHardeningIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static String message(HttpResponse<String> r) throws IOException {
        return JSON.readTree(r.body()).path("error").path("message").asText();
    }

    @Test
    void deepJsonAndOutOfRangeTokenIdsAreAnswered400WithTheCause() throws Exception {
        try (ServedArbor arbor = ServedArbor.start()) {
            String deep = "[".repeat(1_001) + "]".repeat(1_001);
            HttpResponse<String> nested = arbor.post("/v1/completions", deep);
            assertThat(nested.statusCode()).as(nested.body()).isEqualTo(400);
            assertThat(message(nested)).contains("nesting depth").doesNotContain("NullPointerException");
            HttpResponse<String> deepObject = arbor.post("/v1/chat/completions", "{\"model\": \"stories260k\","
                    + " \"messages\": " + "[".repeat(1_001) + "]".repeat(1_001) + "}");
            assertThat(deepObject.statusCode()).isEqualTo(400);

            HttpResponse<String> huge = arbor.post("/v1/completions",
                    "{\"model\": \"stories260k\", \"prompt\": [1, 99999999999], \"max_tokens\": 2}");
            assertThat(huge.statusCode()).isEqualTo(400);
            assertThat(message(huge)).contains("'prompt' token id 99999999999 at index 1 is outside the vocabulary")
                    .doesNotContain("prompts");
            HttpResponse<String> outside = arbor.post("/v1/completions",
                    "{\"model\": \"stories260k\", \"prompt\": [[1, 9999]], \"max_tokens\": 2}");
            assertThat(outside.statusCode()).isEqualTo(400);
            assertThat(message(outside)).contains("token id 9999 at index 1 is outside the vocabulary 0..511");
            HttpResponse<String> mixed = arbor.post("/v1/completions",
                    "{\"model\": \"stories260k\", \"prompt\": [1, \"two\"], \"max_tokens\": 2}");
            assertThat(message(mixed)).contains("mixes token ids with a string");
            assertThat(arbor.post("/v1/completions", "{\"model\": \"stories260k\", \"prompt\": [1, 2],"
                    + " \"max_tokens\": 2}").statusCode()).isEqualTo(200);
            assertThat(arbor.log()).doesNotContain("SEVERE");
        }
    }

    @Test
    void metricsLabelOnlyConfiguredNamesWhateverClientsSend() throws Exception {
        try (ServedArbor arbor = ServedArbor.start()) {
            for (String path : new String[] {"/v1/completions", "/v1/arbor/watermark/detect"}) {
                arbor.post(path, "{\"model\": \"stories260k\", \"prompt\": \"Once\", \"text\": \"Once\","
                        + " \"max_tokens\": 2}");
            }
            // one round of made-up names first: the series of the "unknown" label and of each status exist after it
            sendMadeUpNames(arbor, "warm-up-" + UUID.randomUUID());
            arbor.get("/metrics"); // the scrape's own series appear from the second scrape on
            int baseline = arbor.get("/metrics").body().length();
            List<String> names = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                names.add("bogus-" + UUID.randomUUID());
            }
            names.add("x".repeat(100_000));
            for (String name : names) {
                sendMadeUpNames(arbor, name);
            }
            String metrics = arbor.get("/metrics").body();
            assertThat(names).noneMatch(n -> metrics.contains(n.substring(0, Math.min(60, n.length()))));
            assertThat(metrics.length()).as("bytes of /metrics after 51 more names").isLessThan(baseline + 5_000);
        }
    }

    /** {@code name} as the model of every route, and as a strategy of a real pipeline. */
    private static void sendMadeUpNames(ServedArbor arbor, String name) throws Exception {
        for (String path : new String[] {"/v1/completions", "/v1/chat/completions", "/v1/arbor/watermark/detect"}) {
            HttpResponse<String> r = arbor.post(path, "{\"model\": \"" + name + "\", \"prompt\": \"a\","
                    + " \"text\": \"a\", \"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}");
            assertThat(r.statusCode()).isEqualTo(404);
        }
        HttpResponse<String> strategy = arbor.post("/v1/completions", "{\"model\": \"stories260k-speculative\","
                + " \"prompt\": \"a\", \"max_tokens\": 2, \"arbor\": {\"generator\": \""
                + name.substring(0, Math.min(60, name.length())) + "\"}}");
        assertThat(strategy.statusCode()).isGreaterThanOrEqualTo(400).isLessThan(500);
    }

    @Test
    void sigtermAnswersQueuedAndNewRequests503WithRetryAfterAndLetsTheRunningOneFinish() throws Exception {
        try (ServedArbor arbor = ServedArbor.start("--workers", "1", "--shutdown-grace-ms", "120000")) {
            // warm up, so that the long request below is generating (not loading the model) when SIGTERM comes
            assertThat(arbor.post("/v1/completions", "{\"model\": \"stories260k\", \"prompt\": \"a\","
                    + " \"max_tokens\": 2}").statusCode()).isEqualTo(200);
            CompletableFuture<HttpResponse<java.util.stream.Stream<String>>> streaming = arbor.http.sendAsync(
                    request(arbor, "{\"model\": \"stories260k\", \"prompt\": \"Once\", \"max_tokens\": 400,"
                            + " \"n\": 8, \"stream\": true, \"arbor\": {\"options\": {\"ignore_eos\": true}}}"),
                    HttpResponse.BodyHandlers.ofLines());
            // its headers come with the first event: it holds the one worker and generates
            HttpResponse<java.util.stream.Stream<String>> head = streaming.get(60, TimeUnit.SECONDS);
            assertThat(head.statusCode()).isEqualTo(200);
            CompletableFuture<List<String>> running = CompletableFuture.supplyAsync(() -> head.body().toList());
            List<CompletableFuture<HttpResponse<String>>> queued = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                queued.add(postAsync(arbor, "{\"model\": \"stories260k\", \"prompt\": \"Once\", \"max_tokens\": 4}"));
            }
            awaitActiveRequests(arbor, 1 + queued.size());
            assertThat(running).as("the long request still runs").isNotDone();

            arbor.process.destroy(); // SIGTERM
            for (CompletableFuture<HttpResponse<String>> q : queued) {
                HttpResponse<String> r = q.get(60, TimeUnit.SECONDS);
                assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
                assertThat(r.headers().firstValue("Retry-After")).isPresent();
                assertThat(message(r)).contains("the server is stopping");
            }
            try {
                HttpResponse<String> late = arbor.post("/v1/completions",
                        "{\"model\": \"stories260k\", \"prompt\": \"Once\", \"max_tokens\": 4}");
                assertThat(late.statusCode()).as(late.body()).isEqualTo(503);
                assertThat(late.headers().firstValue("Retry-After")).isPresent();
            } catch (IOException refused) {
                // the server had already closed its port: also no 404
            }
            List<String> events = running.get(120, TimeUnit.SECONDS);
            assertThat(events).as("the request running at SIGTERM finishes").contains("data: [DONE]");
            assertThat(arbor.process.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(arbor.process.exitValue()).isEqualTo(143);
            assertThat(arbor.log()).doesNotContain("SEVERE")
                    .doesNotContain("A fatal error has been detected");
        }
    }

    private static HttpRequest request(ServedArbor arbor, String json) {
        return HttpRequest.newBuilder(arbor.api("/v1/completions")).timeout(Duration.ofSeconds(180))
                .header("Authorization", "Bearer " + ServedArbor.API_KEY).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)).build();
    }

    private static CompletableFuture<HttpResponse<String>> postAsync(ServedArbor arbor, String json) {
        return arbor.http.sendAsync(request(arbor, json), HttpResponse.BodyHandlers.ofString());
    }

    /** Waits until /metrics shows {@code n} requests being handled besides the scrape itself. */
    private static void awaitActiveRequests(ServedArbor arbor, int n) throws Exception {
        Pattern active = Pattern.compile("(?m)^arbor_http_active_requests (\\d+)");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        int seen = -1;
        while (System.nanoTime() < deadline) {
            Matcher m = active.matcher(arbor.get("/metrics").body());
            seen = m.find() ? Integer.parseInt(m.group(1)) - 1 : -1;
            if (seen >= n) {
                return;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("expected " + n + " active requests, saw " + seen);
    }
}
