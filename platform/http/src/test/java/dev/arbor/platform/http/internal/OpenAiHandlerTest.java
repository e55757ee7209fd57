package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.testkit.Await;
import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.ArborException;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The handler on a real Jetty with a fake pipeline service: status codes, bodies and stream framing. */
class OpenAiHandlerTest {
    private static final String KEY = "sesame";
    private static final CountDownLatch RELEASE_HANG = new CountDownLatch(1);
    private static final CountDownLatch HANG_STARTED = new CountDownLatch(1);
    /** Every request of this class has this deadline: ample for the fake pipelines on a loaded machine. */
    private static final int DEADLINE_MS = 3_000;
    private static Server server;
    private static Workers workers;
    private static ServerMetrics metrics;
    private static URI base;
    private static final HttpClient CLIENT = HttpClient.newHttpClient();

    /** "echo" streams two tokens; "boom" fails like a plugin; "hang" never returns until the test ends. */
    private static final PipelineService FAKE = new PipelineService() {
        @Override
        public List<PipelineStatus> pipelines() {
            return List.of(status("echo").orElseThrow(), status("boom").orElseThrow(), status("hang").orElseThrow(),
                    new PipelineStatus("broken", false, List.of("logits processor 'x'"), null));
        }

        @Override
        public Optional<PipelineStatus> status(String name) {
            return List.of("echo", "boom", "hang", "broken").contains(name)
                    ? Optional.of(new PipelineStatus(name, !name.equals("broken"), List.of(), null))
                    : Optional.empty();
        }

        @Override
        public Completion complete(CompletionRequest request, TextSink sink) {
            switch (request.pipeline()) {
                case "boom" -> throw new ArborException(ArborException.Kind.PLUGIN_FAILURE,
                        "logits processor 'throwing' (bundle t 1.0) failed: java.lang.IllegalStateException");
                case "hang" -> {
                    HANG_STARTED.countDown();
                    while (RELEASE_HANG.getCount() > 0) {
                        try {
                            RELEASE_HANG.await(); // ignores interrupts: a plugin that never returns
                        } catch (InterruptedException e) {
                            // keep hanging
                        }
                    }
                    return null;
                }
                case "broken" -> throw new ArborException(ArborException.Kind.UNAVAILABLE,
                        "pipeline 'broken' unavailable: needs logits processor 'x'");
                default -> {
                    if (request.options().bool("stream_canvas", false)) { // what the runtime does for diffusion
                        sink.onCanvas(TextSink.MASK_PLACEHOLDER.repeat(2), 1);
                        sink.onCanvas("Hello" + TextSink.MASK_PLACEHOLDER, 2);
                    }
                    sink.onText("Hello", 7, -0.5);
                    sink.onText("", 8, -0.25);
                    sink.onText(" world", -1, Double.NaN);
                    return new Completion("echo", "Hello world", new int[] {1, 2, 3}, new int[] {7, 8},
                            new double[] {-0.5, -0.25}, FinishReason.LENGTH, 1_000, 2_000, Map.of());
                }
            }
        }

        @Override
        public int[] tokenize(String pipeline, String text) {
            return new int[text.length()];
        }

        @Override
        public dev.arbor.api.postprocess.PostProcessor.Output analyze(String pipeline, String text,
                                                                     dev.arbor.api.Options options) {
            if (options.has("key_id") && !options.string("key_id", "").equals("k-1")) {
                throw ArborException.invalid("the text was to be checked against key id "
                        + options.string("key_id", "") + " but pipeline 'echo' has key id k-1");
            }
            return new dev.arbor.api.postprocess.PostProcessor.Output(new int[text.length()], text,
                    Map.of("watermark", Map.of("key_id", "k-1", "detected", true, "z_score", 5.5)));
        }

        @Override
        public dev.arbor.api.postprocess.PostProcessor.Output analyzeImage(String pipeline, byte[] png,
                                                                          dev.arbor.api.Options options) {
            // the bytes arrive decoded from base64, exactly as sent
            if (!java.util.Arrays.equals(png, PNG)) {
                throw ArborException.invalid("the image is not a PNG");
            }
            return new dev.arbor.api.postprocess.PostProcessor.Output(new int[49], "",
                    Map.of("watermark", Map.of("key_id", "k-1", "detected", false, "z_score", 0.5)));
        }

        @Override
        public void define(PipelineDefinition definition) {
            throw new IllegalStateException("not used by these tests");
        }
    };

    @Test
    void detectsWatermarksThroughThePipelinesDetectors() throws Exception {
        HttpResponse<String> ok = post("/v1/arbor/watermark/detect", "{'model': 'echo', 'text': 'abc'}", KEY);
        assertThat(ok.statusCode()).isEqualTo(200);
        JsonNode body = OpenAiResponses.MAPPER.readTree(ok.body());
        assertThat(body.get("tokens").asInt()).isEqualTo(3);
        assertThat(body.get("reports").get("watermark").get("detected").asBoolean()).isTrue();
        HttpResponse<String> wrongKey = post("/v1/arbor/watermark/detect",
                "{'model': 'echo', 'text': 'abc', 'key_id': 'k-2'}", KEY);
        assertThat(wrongKey.statusCode()).isEqualTo(400);
        assertThat(error(wrongKey).get("message").asText()).contains("key id k-2").contains("k-1");
        assertThat(post("/v1/arbor/watermark/detect", "{'model': 'echo'}", KEY).statusCode()).isEqualTo(400);
        assertThat(post("/v1/arbor/watermark/detect", "{'model': 'nope', 'text': 'x'}", KEY).statusCode())
                .isEqualTo(404);
    }

    static final byte[] PNG = dev.arbor.api.image.Png.encode(new float[][] {{0f, 0.5f}, {1f, 0.25f}});

    @Test
    void detectsWatermarksInABase64Png() throws Exception {
        String b64 = java.util.Base64.getEncoder().encodeToString(PNG);
        HttpResponse<String> ok = post("/v1/arbor/watermark/detect", "{'model': 'echo', 'image_b64': '" + b64 + "'}",
                KEY);
        assertThat(ok.statusCode()).isEqualTo(200);
        JsonNode body = OpenAiResponses.MAPPER.readTree(ok.body());
        assertThat(body.get("tokens").asInt()).isEqualTo(49);
        assertThat(body.get("reports").get("watermark").get("detected").asBoolean()).isFalse();
        HttpResponse<String> dataUrl = post("/v1/arbor/watermark/detect", "{'model': 'echo', 'image_b64': "
                + "'data:image/png;base64," + b64 + "'}", KEY);
        assertThat(dataUrl.statusCode()).isEqualTo(200);
        HttpResponse<String> both = post("/v1/arbor/watermark/detect", "{'model': 'echo', 'text': 'abc', "
                + "'image_b64': '" + b64 + "'}", KEY);
        assertThat(both.statusCode()).isEqualTo(400);
        assertThat(error(both).get("message").asText()).contains("either 'text' or 'image_b64'");
        // a path is not an image: it is read as base64 like any value (the server never opens a file a client
        // names), and its bytes are no PNG
        HttpResponse<String> path = post("/v1/arbor/watermark/detect", "{'model': 'echo', 'image_b64': "
                + "'/etc/passwd'}", KEY);
        assertThat(path.statusCode()).isEqualTo(400);
        assertThat(error(path).get("message").asText()).contains("not a PNG");
        HttpResponse<String> garbage = post("/v1/arbor/watermark/detect", "{'model': 'echo', 'image_b64': "
                + "'%%%%'}", KEY);
        assertThat(garbage.statusCode()).isEqualTo(400);
        assertThat(error(garbage).get("message").asText()).contains("not base64");
        assertThat(post("/v1/arbor/watermark/detect", "{'model': 'echo', 'image_b64': 5}", KEY).statusCode())
                .isEqualTo(400);
    }

    @Test
    void countsNamesNoOperatorConfiguredUnderOneLabel() throws Exception {
        List<String> names = new java.util.ArrayList<>();
        int baseline = 0;
        for (int i = 0; i < 50; i++) {
            String name = "bogus-" + java.util.UUID.randomUUID();
            names.add(name);
            assertThat(post("/v1/arbor/watermark/detect", "{'model': '" + name + "', 'text': 'abc'}", KEY)
                    .statusCode()).isEqualTo(404);
            assertThat(post("/v1/completions", "{'model': '" + name + "'}", KEY).statusCode()).isEqualTo(404);
            if (i == 0) {
                awaitAllCounted();
                baseline = metrics.scrape().length(); // the series of the first unknown name exist now
            }
        }
        awaitAllCounted();
        String after = metrics.scrape();
        assertThat(names).noneMatch(after::contains);
        // 49 more names added no series: only counts and sums changed (a few characters each)
        assertThat(after.length()).isLessThan(baseline + 2_000);
    }

    /** A request is counted as its exchange completes, just after its client has the answer: waits for that. */
    private static void awaitAllCounted() {
        Await.until(() -> metrics.active() == 0, () -> metrics.active() + " requests to be counted");
        assertThat(metrics.active()).as("requests not yet counted").isZero();
    }

    @BeforeAll
    static void start() throws Exception {
        ServerSettings settings = ServerSettings.from(Map.of("port", 0, "api_key", KEY, "max_body_bytes", 300,
                "max_prompt_tokens", 20, "max_tokens", 50, "request_timeout_ms", DEADLINE_MS, "workers", 2));
        metrics = new ServerMetrics(MetricLabels.of(java.util.Set.of("echo", "boom", "hang", "broken"),
                java.util.Set.of()));
        workers = new Workers(settings.workers(), OpenAiHandlerTest.class.getClassLoader(), metrics::abandoned);
        server = new Server();
        ServerConnector connector = HttpServerComponent.connector(server, settings);
        server.addConnector(connector);
        server.setHandler(new OpenAiHandler(FAKE, settings, metrics, workers));
        server.start();
        base = URI.create("http://127.0.0.1:" + connector.getLocalPort());
    }

    @AfterAll
    static void stop() throws Exception {
        RELEASE_HANG.countDown();
        server.stop();
        workers.close();
    }

    private static HttpResponse<String> post(String path, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path)).header("Content-Type", "application/json")
                .header("X-Request-Id", "test-42").POST(HttpRequest.BodyPublishers.ofString(body.replace('\'', '"')));
        if (key != null) {
            b.header("Authorization", "Bearer " + key);
        }
        return CLIENT.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode error(HttpResponse<String> response) throws Exception {
        return OpenAiResponses.MAPPER.readTree(response.body()).get("error");
    }

    @Test
    void refusesRequestsWithoutTheKey() throws Exception {
        HttpResponse<String> none = post("/v1/completions", "{'model': 'echo'}", null);
        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(error(none).get("message").asText()).contains("missing API key");
        HttpResponse<String> wrong = post("/v1/completions", "{'model': 'echo'}", "sesame!");
        assertThat(wrong.statusCode()).isEqualTo(401);
        assertThat(error(wrong).get("message").asText()).isEqualTo("incorrect API key");
        assertThat(wrong.headers().firstValue("X-Request-Id")).hasValue("test-42");
        // the same connection just carried the right key: a key differing only in case must still be refused
        assertThat(post("/v1/completions", "{'model': 'echo'}", KEY).statusCode()).isEqualTo(200);
        assertThat(post("/v1/completions", "{'model': 'echo'}", KEY.toUpperCase()).statusCode()).isEqualTo(401);
    }

    @Test
    void answersEachInputErrorWithItsStatus() throws Exception {
        HttpResponse<String> big = post("/v1/completions", "{'model': 'echo', 'prompt': '" + "x".repeat(400) + "'}",
                KEY);
        assertThat(big.statusCode()).isEqualTo(413);
        assertThat(error(big).get("message").asText()).contains("limit of 300 bytes");
        HttpResponse<String> malformed = post("/v1/completions", "{'model': ", KEY);
        assertThat(malformed.statusCode()).isEqualTo(400);
        assertThat(error(malformed).get("message").asText()).startsWith("the request body is not valid JSON");
        HttpResponse<String> tooMany = post("/v1/completions", "{'model': 'echo', 'max_tokens': 51}", KEY);
        assertThat(tooMany.statusCode()).isEqualTo(400);
        assertThat(error(tooMany).get("message").asText()).contains("limit of 50");
        assertThat(error(tooMany).get("param").asText()).isEqualTo("max_tokens");
        HttpResponse<String> longPrompt = post("/v1/completions", "{'model': 'echo', 'prompt': '"
                + "y".repeat(21) + "'}", KEY);
        assertThat(longPrompt.statusCode()).isEqualTo(400);
        assertThat(error(longPrompt).get("message").asText()).contains("21 tokens").contains("limit of 20");
        HttpResponse<String> unknown = post("/v1/completions", "{'model': 'nope'}", KEY);
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(error(unknown).get("message").asText()).contains("unknown pipeline 'nope'")
                .contains("ready pipelines: echo, boom, hang");
        HttpResponse<String> broken = post("/v1/completions", "{'model': 'broken'}", KEY);
        assertThat(broken.statusCode()).isEqualTo(503);
        assertThat(error(broken).get("message").asText()).contains("unavailable: needs logits processor 'x'");
        HttpResponse<String> boom = post("/v1/chat/completions", "{'model': 'boom', 'messages': [{'role': 'user',"
                + " 'content': 'a'}], 'stream': true}", KEY);
        assertThat(boom.statusCode()).as("a failure before the first event keeps its status").isEqualTo(500);
        assertThat(error(boom).get("message").asText()).contains("logits processor 'throwing' (bundle t 1.0)");
        HttpResponse<String> route = CLIENT.send(HttpRequest.newBuilder(base.resolve("/v2/x"))
                .header("Authorization", "Bearer " + KEY).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(route.statusCode()).isEqualTo(404);
    }

    @Test
    void completesWithUsageAndLogprobs() throws Exception {
        HttpResponse<String> r = post("/v1/completions", "{'model': 'echo', 'prompt': 'a', 'logprobs': 0}", KEY);
        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode body = OpenAiResponses.MAPPER.readTree(r.body());
        assertThat(body.get("id").asText()).startsWith("cmpl-");
        assertThat(body.get("choices").get(0).get("text").asText()).isEqualTo("Hello world");
        assertThat(body.get("choices").get(0).get("logprobs").get("tokens").toString())
                .isEqualTo("[\"Hello\",\" world\"]");
        assertThat(body.get("usage").get("total_tokens").asInt()).isEqualTo(5);
    }

    @Test
    void streamsChatChunksEndingWithDone() throws Exception {
        HttpResponse<String> r = post("/v1/chat/completions", "{'model': 'echo', 'messages': [{'role': 'user',"
                + " 'content': 'a'}], 'stream': true, 'stream_options': {'include_usage': true}}", KEY);
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type").orElseThrow()).startsWith("text/event-stream");
        String[] events = r.body().split("\n\n");
        assertThat(events).hasSize(5).allMatch(e -> e.startsWith("data: "));
        JsonNode first = OpenAiResponses.MAPPER.readTree(events[0].substring(6));
        assertThat(first.get("choices").get(0).get("delta").toString())
                .isEqualTo("{\"role\":\"assistant\",\"content\":\"Hello\"}");
        JsonNode second = OpenAiResponses.MAPPER.readTree(events[1].substring(6));
        assertThat(second.get("choices").get(0).get("delta").get("content").asText()).isEqualTo(" world");
        JsonNode finish = OpenAiResponses.MAPPER.readTree(events[2].substring(6));
        assertThat(finish.get("choices").get(0).get("finish_reason").asText()).isEqualTo("length");
        JsonNode usage = OpenAiResponses.MAPPER.readTree(events[3].substring(6));
        assertThat(usage.get("usage").get("completion_tokens").asInt()).isEqualTo(2);
        assertThat(events[4]).isEqualTo("data: [DONE]");
    }

    @Test
    void streamsDiffusionCanvasesOnlyWhenAsked() throws Exception {
        HttpResponse<String> r = post("/v1/completions", "{'model': 'echo', 'prompt': 'a', 'stream': true,"
                + " 'arbor': {'stream_canvas': true}}", KEY);
        assertThat(r.statusCode()).isEqualTo(200);
        String[] events = r.body().split("\n\n");
        JsonNode first = OpenAiResponses.MAPPER.readTree(events[0].substring(6)).get("choices").get(0);
        assertThat(first.get("arbor_canvas").asText()).isEqualTo("\u2591\u2591");
        assertThat(first.get("arbor_step").asInt()).isEqualTo(1);
        assertThat(first.get("text").asText()).isEmpty();
        JsonNode second = OpenAiResponses.MAPPER.readTree(events[1].substring(6)).get("choices").get(0);
        assertThat(second.get("arbor_canvas").asText()).isEqualTo("Hello\u2591");
        JsonNode text = OpenAiResponses.MAPPER.readTree(events[2].substring(6)).get("choices").get(0);
        assertThat(text.get("text").asText()).isEqualTo("Hello");
        assertThat(text.has("arbor_canvas")).isFalse();
        HttpResponse<String> plain = post("/v1/completions", "{'model': 'echo', 'prompt': 'a', 'stream': true}",
                KEY);
        assertThat(plain.body()).doesNotContain("arbor_canvas");
        HttpResponse<String> bad = post("/v1/completions", "{'model': 'echo', 'arbor': {'stream_canvas': 'yes'}}",
                KEY);
        assertThat(bad.statusCode()).isEqualTo(400);
        assertThat(error(bad).get("param").asText()).isEqualTo("arbor.stream_canvas");
    }

    @Test
    void cutsOffAPluginThatNeverReturnsAndKeepsServing() throws Exception {
        CompletableFuture<HttpResponse<String>> hung = CompletableFuture.supplyAsync(() -> {
            try {
                return post("/v1/completions", "{'model': 'hang'}", KEY);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        // served while the other worker is stuck (waits for the stuck plugin to be running, not for a time)
        assertThat(HANG_STARTED.await(60, TimeUnit.SECONDS)).as("the hanging pipeline was called").isTrue();
        assertThat(post("/v1/completions", "{'model': 'echo'}", KEY).statusCode()).isEqualTo(200);
        HttpResponse<String> r = hung.get();
        assertThat(r.statusCode()).isEqualTo(504);
        assertThat(error(r).get("message").asText()).contains("deadline of " + DEADLINE_MS + " ms");
        // both worker permits are free again although one worker is still stuck
        assertThat(post("/v1/completions", "{'model': 'echo'}", KEY).statusCode()).isEqualTo(200);
        assertThat(post("/v1/completions", "{'model': 'echo'}", KEY).statusCode()).isEqualTo(200);
        assertThat(metrics.scrape()).contains("arbor_http_abandoned_workers_total 1.0");
    }
}
