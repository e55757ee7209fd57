package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.pipeline.PartPolicy;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Hashtable;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.osgi.framework.Bundle;

/**
 * Every error of the HTTP API against the real distribution in Felix, configured through Config Admin: status code
 * and message of each, a plugin that throws (500 naming it) and one that never returns (504 at the deadline while
 * another request succeeds), per-request strategies refused with 400, metrics and request ids.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HttpErrorsIT {
    private static final String KEY = "it-secret";
    private static final long TIMEOUT_MS = 4_000;
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private Path home;
    private RuntimeHarness runtime;
    private PipelineService pipelines;
    private PipelineDefinition base;
    private URI uri;

    @BeforeAll
    void start() throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        home = Files.createTempDirectory("arbor-http-it-");
        runtime = new RuntimeHarness(home, models);
        pipelines = runtime.pipelines();
        base = runtime.awaitReady("stories260k").definition();
        Path failingJar = Path.of(System.getProperty("arbor.testBundles", "target/test-bundles"),
                "failing-processors.jar");
        runtime.trust(failingJar); // a bundle from outside the installation resolves only when trusted
        Bundle failing = runtime.context().installBundle(failingJar.toUri().toString());
        failing.start();
        pipelines.define(withProcessors("throws", List.of(PartRef.of("throwing")), base.overrides()));
        pipelines.define(withProcessors("hangs", List.of(PartRef.of("hanging")), base.overrides()));
        pipelines.define(withProcessors("lacks", List.of(PartRef.of("no-such-processor")), base.overrides()));
        pipelines.define(withProcessors("picky", base.processors(), new PartPolicy(List.of("picky"), List.of())));
        runtime.awaitReady("throws");
        runtime.awaitReady("hangs");
        runtime.awaitReady("picky");

        Hashtable<String, Object> config = new Hashtable<>();
        config.put("port", 0);
        config.put("api_key", KEY);
        config.put("max_body_bytes", 2048);
        config.put("max_prompt_tokens", 16);
        config.put("max_tokens", 64);
        config.put("request_timeout_ms", TIMEOUT_MS);
        config.put("workers", 4);
        uri = runtime.startHttp(config);
        assertThat(uri.getHost()).isEqualTo("127.0.0.1");
    }

    @AfterAll
    void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
        RuntimeHarness.deleteTree(home);
    }

    private PipelineDefinition withProcessors(String name, List<PartRef> processors, PartPolicy overrides) {
        return new PipelineDefinition(name, "HTTP error test", base.model(), base.tokenizer(), base.generator(),
                processors, base.selector(), base.postProcessors(), base.defaults(), overrides);
    }

    /**
     * Writes a configuration through the framework's Config Admin. Its classes live in the Config Admin bundle, not
     * on this test's class path (only the Arbor API is shared), so the calls go through that bundle's interfaces.
     */
    private HttpResponse<String> post(String path, String body, String key, String requestId) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri.resolve(path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        if (requestId != null) {
            b.header("X-Request-Id", requestId);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return post(path, body.replace('\'', '"'), KEY, null);
    }

    /** Threads of this JVM (the framework runs in it) now inside the test bundle's hanging processor. */
    private static long threadsInHangingProcessor() {
        return Thread.getAllStackTraces().values().stream().filter(stack -> Arrays.stream(stack)
                .anyMatch(f -> f.getClassName().contains("HangingProcessorFactory"))).count();
    }

    private static String completion(String model, String extra) {
        return "{'model': '" + model + "', 'prompt': 'Once', 'max_tokens': 8, 'temperature': 0" + extra + "}";
    }

    /** Asserts the status and OpenAI's error shape, returning the message. */
    private static String error(HttpResponse<String> r, int status) throws Exception {
        assertThat(r.statusCode()).as("status of %s", r.body()).isEqualTo(status);
        JsonNode error = MAPPER.readTree(r.body()).get("error");
        assertThat(error).as("OpenAI error shape: %s", r.body()).isNotNull();
        assertThat(error.has("type") && error.has("param") && error.has("code")).isTrue();
        return error.get("message").asText();
    }

    @Test
    void refusesMissingAndWrongApiKeys() throws Exception {
        HttpResponse<String> none = post("/v1/completions", completion("stories260k", "").replace('\'', '"'), null,
                null);
        assertThat(error(none, 401)).contains("missing API key");
        assertThat(none.headers().firstValue("WWW-Authenticate")).hasValue("Bearer");
        HttpResponse<String> wrong = post("/v1/models", "{}", "it-secreT", null);
        assertThat(error(wrong, 401)).isEqualTo("incorrect API key");
        // again on a connection that just carried the right key: Jetty's header cache must not match it
        assertThat(post("/v1/completions", completion("stories260k", "").replace('\'', '"'), KEY, null)
                .statusCode()).isEqualTo(200);
        assertThat(error(post("/v1/completions", "{}", "IT-SECRET", null), 401)).isEqualTo("incorrect API key");
        HttpResponse<String> right = http.send(HttpRequest.newBuilder(uri.resolve("/v1/models"))
                .header("Authorization", "Bearer " + KEY).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(right.statusCode()).isEqualTo(200);
        assertThat(MAPPER.readTree(right.body()).get("data").findValuesAsText("id"))
                .contains("stories260k", "throws", "hangs").doesNotContain("lacks");
    }

    @Test
    void refusesBodiesOverTheLimit() throws Exception {
        String prompt = "x".repeat(3000);
        assertThat(error(post("/v1/completions", "{'model': 'stories260k', 'prompt': '" + prompt + "'}"), 413))
                .contains("limit of 2048 bytes (max_body_bytes)");
    }

    @Test
    void refusesMalformedJsonAndIllTypedFields() throws Exception {
        assertThat(error(post("/v1/completions", "{'model': 'stories260k', "), 400))
                .startsWith("the request body is not valid JSON");
        HttpResponse<String> typed = post("/v1/chat/completions", "{'model': 'stories260k', 'messages': 'hi'}");
        assertThat(error(typed, 400)).contains("'messages' must be a non-empty list");
        assertThat(MAPPER.readTree(typed.body()).get("error").get("param").asText()).isEqualTo("messages");
    }

    @Test
    void refusesMaxTokensAndPromptsOverTheLimits() throws Exception {
        assertThat(error(post("/v1/completions", "{'model': 'stories260k', 'prompt': 'Once', 'max_tokens': 65}"),
                400)).isEqualTo("'max_tokens' is 65, more than this server's limit of 64 (max_tokens)");
        int tokens = pipelines.tokenize("stories260k", "Once upon a time there was a little girl named Lily who"
                + " loved to play outside").length;
        assertThat(tokens).isGreaterThan(16);
        assertThat(error(post("/v1/completions", "{'model': 'stories260k', 'prompt': 'Once upon a time there was a"
                + " little girl named Lily who loved to play outside'}"), 400))
                .isEqualTo("the prompt has " + tokens + " tokens, more than this server's limit of 16"
                        + " (max_prompt_tokens)");
    }

    @Test
    void answersUnknownPipelinesWith404AndMissingPartsWith503() throws Exception {
        assertThat(error(post("/v1/completions", completion("no-such-pipeline", "")), 404))
                .contains("unknown pipeline 'no-such-pipeline'").contains("stories260k");
        assertThat(error(post("/v1/completions", completion("lacks", "")), 503))
                .contains("pipeline 'lacks' unavailable: needs logits processor 'no-such-processor'");
    }

    @Test
    void blamesAThrowingPluginByName() throws Exception {
        assertThat(error(post("/v1/completions", completion("throws", "")), 500))
                .contains("logits processor 'throwing' (bundle dev.arbor.test.failingprocessors")
                .contains("fails on purpose");
        // streamed: the failure comes before the first token, so it still gets its status code
        assertThat(error(post("/v1/chat/completions", "{'model': 'throws', 'stream': true, 'messages':"
                + " [{'role': 'user', 'content': 'Once'}]}"), 500)).contains("logits processor 'throwing'");
        assertThat(post("/v1/completions", completion("stories260k", "")).statusCode()).isEqualTo(200);
    }

    @Test
    void cutsOffAPluginThatNeverReturnsWhileOthersAreServed() throws Exception {
        long stuckBefore = threadsInHangingProcessor();
        long start = System.nanoTime();
        CompletableFuture<HttpResponse<String>> hung = CompletableFuture.supplyAsync(() -> {
            try {
                return post("/v1/completions", completion("hangs", ""));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        // the other request is sent once a worker is stuck in the plugin (an event, not a guess at a time)
        RuntimeHarness.await(() -> threadsInHangingProcessor() > stuckBefore, 60_000,
                () -> "no worker ever entered the hanging processor");
        HttpResponse<String> parallel = post("/v1/completions", completion("stories260k", ""));
        assertThat(parallel.statusCode()).isEqualTo(200);
        assertThat(hung).as("the normal request finished before the hanging one's deadline").isNotDone();
        String message = error(hung.get(), 504);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertThat(message).contains("deadline of " + TIMEOUT_MS + " ms");
        assertThat(millis).isBetween(TIMEOUT_MS, TIMEOUT_MS + 3_000);

        // a stream that stalls midway: text arrives, then an error event, and no [DONE]
        HttpResponse<String> stalled = post("/v1/completions", completion("hangs", ", 'stream': true,"
                + " 'arbor': {'options': {'hang_after_tokens': 5}}"));
        assertThat(stalled.statusCode()).isEqualTo(200);
        String[] events = stalled.body().split("\n\n");
        assertThat(events.length).isGreaterThan(1);
        assertThat(events[0]).startsWith("data: {\"id\":\"cmpl-");
        assertThat(events[events.length - 1]).startsWith("data: {\"error\":").contains("\"code\":\"timeout\"");
        assertThat(stalled.body()).doesNotContain("[DONE]");
        assertThat(post("/v1/completions", completion("stories260k", "")).statusCode()).isEqualTo(200);
    }

    @Test
    void refusesPerRequestStrategiesOutsideTheAllowListOrIncompatible() throws Exception {
        assertThat(error(post("/v1/completions", completion("stories260k", ", 'arbor': {'processors': ['throwing']}")),
                400)).contains("does not let a request use logits processor 'throwing'").contains("min-p");
        assertThat(error(post("/v1/completions", completion("stories260k", ", 'arbor': {'generator': 'picky'}")),
                400)).contains("does not let a request choose generator 'picky'");
        // a misspelt part is no such part (with what is installed), not "not allowed"
        assertThat(error(post("/v1/completions", completion("stories260k", ", 'arbor': {'processors': ['top-pp']}")),
                400)).contains("no such logits processor 'top-pp'").contains("installed: ").contains("top-p")
                .doesNotContain("does not let");
        // a bad option value names the part that refused it
        assertThat(error(post("/v1/completions", completion("stories260k",
                ", 'arbor': {'options': {'top_p': 1.5}}")), 400)).contains("logits processor 'top-p': ").contains("top_p");
        // an operator's bad default is refused when the pipeline is defined, naming the pipeline and the part
        assertThatThrownBy(() -> pipelines.define(new PipelineDefinition("bad-default", "top_p out of range",
                base.model(), base.tokenizer(), base.generator(), base.processors(), base.selector(),
                base.postProcessors(), base.defaults().with("top_p", 1.5), base.overrides())))
                .hasMessageContaining("pipeline 'bad-default'").hasMessageContaining("logits processor 'top-p': ");
        assertThat(error(post("/v1/completions", completion("picky", ", 'arbor': {'generator': 'picky'}")), 400))
                .contains("generator 'picky' cannot be combined with logits processor 'repetition-penalty'")
                .contains("repetition-penalty");
        // an allowed choice runs
        HttpResponse<String> beams = post("/v1/completions", completion("stories260k",
                ", 'arbor': {'generator': {'name': 'beam-search', 'options': {'num_beams': 2}}, 'processors':"
                        + " ['min-p']}"));
        assertThat(beams.statusCode()).as(beams.body()).isEqualTo(200);
    }

    @Test
    void anOperatorsBadDefaultInAPipelineFileMakesItUnavailableNamingTheFileAndThePart() throws Exception {
        Path file = runtime.home.resolve("etc/pipelines/bad-file.json");
        String json = Files.readString(runtime.home.resolve("etc/pipelines/stories260k.json"))
                .replace("\"name\": \"stories260k\"", "\"name\": \"bad-file\"")
                .replace("\"top_p\": 0.9", "\"top_p\": 1.5");
        assertThat(json).contains("\"bad-file\"").contains("1.5");
        Files.writeString(file, json);
        RuntimeHarness.await(() -> pipelines.status("bad-file").isPresent(), 60_000,
                () -> "the pipeline file to be loaded");
        // the client is not blamed: 503 naming the pipeline, its file and the part that refused the value
        String message = error(post("/v1/completions", completion("bad-file", "")), 503);
        assertThat(message).contains("pipeline 'bad-file'").contains("bad-file.json")
                .contains("logits processor 'top-p': ").contains("top_p");
        assertThat(pipelines.status("bad-file").orElseThrow().ready()).isFalse();
        assertThat(pipelines.status("bad-file").orElseThrow().missing()).anySatisfy(m -> assertThat(m)
                .contains("logits processor 'top-p'"));
    }

    @Test
    void echoesRequestIdsAndExposesMetrics() throws Exception {
        HttpResponse<String> given = post("/v1/completions", completion("stories260k", "").replace('\'', '"'), KEY,
                "it-request-7");
        assertThat(given.headers().firstValue("X-Request-Id")).hasValue("it-request-7");
        HttpResponse<String> generated = post("/v1/completions", completion("no-such-pipeline", ""));
        assertThat(generated.headers().firstValue("X-Request-Id").orElseThrow()).matches("req-[0-9a-f]{32}");

        pipelines.define(withProcessors("swapped", base.processors(), base.overrides()));
        // requests are counted as their exchanges complete (just after the client has the answer) and swaps as
        // Config Admin's events arrive: scrape until both are in, then check everything
        RuntimeHarness.await(() -> {
            String body = scrapeMetrics().body();
            return body.contains("pipeline=\"none\",status=\"404\"}")
                    && body.matches("(?s).*arbor_swaps_total\\{kind=\"pipeline-config\"} [1-9].*");
        }, 60_000, () -> "the 404 request and the swap to be counted on /metrics");
        HttpResponse<String> metrics = scrapeMetrics();
        assertThat(metrics.statusCode()).isEqualTo(200);
        assertThat(metrics.headers().firstValue("Content-Type").orElseThrow()).startsWith("text/plain");
        assertThat(metrics.body())
                .contains("arbor_http_requests_total{endpoint=\"completions\",pipeline=\"stories260k\",status=\"200\"}")
                .contains("arbor_http_requests_total{endpoint=\"completions\",pipeline=\"none\",status=\"404\"}")
                .contains("arbor_tokens_generated_total{pipeline=\"stories260k\"}")
                .contains("arbor_time_to_first_token_seconds_bucket")
                .contains("arbor_http_request_duration_seconds_bucket")
                .contains("arbor_http_active_requests")
                .contains("arbor_http_abandoned_workers_total")
                .containsPattern("arbor_swaps_total\\{kind=\"pipeline-config\"} [1-9]");
    }

    /** GET /metrics with the API key (a failed scrape fails the test rather than being retried). */
    private HttpResponse<String> scrapeMetrics() {
        try {
            return http.send(HttpRequest.newBuilder(uri.resolve("/metrics")).header("Authorization", "Bearer " + KEY)
                    .build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
