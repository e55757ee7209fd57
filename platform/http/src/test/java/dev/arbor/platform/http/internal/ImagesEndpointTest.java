package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.Png;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.postprocess.PostProcessor;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code POST /v1/images/generations} on a real Jetty with a fake pipeline service (no priors needed): validation,
 * the b64_json answer, the SSE image events, and how requests reach the pipelines.
 */
class ImagesEndpointTest {
    static final List<String> CLASSES = List.of("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal",
            "shirt", "sneaker", "bag", "ankle boot");
    static final ImageLayout RASTER = new ImageLayout(28, 28, 512, CLASSES, new int[] {7}, 16);
    static final ImageLayout SCALES = new ImageLayout(28, 28, 512, CLASSES, new int[] {1, 2, 3, 4, 5, 7}, 16);
    static final List<CompletionRequest> REQUESTS = Collections.synchronizedList(new ArrayList<>());

    /**
     * "img" (raster) and "var" (next-scale) answer an image whose first pixel encodes the request's seed, sending two
     * canvases when asked; "nopng" lacks the image-png post-processor; "txt" is a text pipeline.
     */
    static final PipelineService FAKE = new PipelineService() {
        final List<String> names = List.of("img", "var", "nopng", "txt");

        @Override
        public List<PipelineStatus> pipelines() {
            return names.stream().map(n -> status(n).orElseThrow()).toList();
        }

        @Override
        public Optional<PipelineStatus> status(String name) {
            return names.contains(name) ? Optional.of(new PipelineStatus(name, true, List.of(), null))
                    : Optional.empty();
        }

        @Override
        public Optional<ImageLayout> imageLayout(String pipeline) {
            return switch (pipeline) {
                case "img", "nopng" -> Optional.of(RASTER);
                case "var" -> Optional.of(SCALES);
                default -> Optional.empty();
            };
        }

        @Override
        public Completion complete(CompletionRequest request, TextSink sink) {
            REQUESTS.add(request);
            int length = request.options().integer("max_tokens", 0, 0, 1000);
            if (request.options().bool("stream_canvas", false)) {
                sink.onImageCanvas(new float[28][28], 1);
                float[][] half = new float[28][28];
                half[0][0] = 1f;
                sink.onImageCanvas(half, 2);
            }
            int[] tokens = new int[length];
            for (int t : tokens) {
                sink.onText("", t);
            }
            float[][] pixels = new float[28][28];
            pixels[0][0] = request.options().longValue("seed").orElse(0L) / 255f;
            Map<String, Object> stats = new LinkedHashMap<>();
            stats.put("generator", "raster-ar");
            if (!request.pipeline().equals("nopng")) {
                stats.put("image", Png.encode(pixels));
                stats.put("image_complete", true);
            }
            return new Completion(request.pipeline(), "", new int[] {512 + 7}, tokens, new double[length],
                    FinishReason.LENGTH, 1_000, 2_000, stats);
        }

        @Override
        public int[] tokenize(String pipeline, String text) {
            return new int[] {1};
        }

        @Override
        public PostProcessor.Output analyze(String pipeline, String text, Options options) {
            throw new IllegalStateException("not used by these tests");
        }

        @Override
        public void define(PipelineDefinition definition) {
            throw new IllegalStateException("not used by these tests");
        }
    };

    private static Server server;
    private static Workers workers;
    private static ServerMetrics metrics;
    private static URI base;
    private static final HttpClient CLIENT = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        ServerSettings settings = ServerSettings.from(Map.of("port", 0, "max_images", 4, "request_timeout_ms", 10_000,
                "workers", 2));
        metrics = new ServerMetrics(MetricLabels.of(java.util.Set.of("img", "var", "nopng", "txt"),
                java.util.Set.of("raster-ar")));
        workers = new Workers(settings.workers(), ImagesEndpointTest.class.getClassLoader(), metrics::abandoned);
        server = new Server();
        ServerConnector connector = HttpServerComponent.connector(server, settings);
        server.addConnector(connector);
        server.setHandler(new OpenAiHandler(FAKE, settings, metrics, workers));
        server.start();
        base = URI.create("http://127.0.0.1:" + connector.getLocalPort());
    }

    @AfterAll
    static void stop() throws Exception {
        server.stop();
        workers.close();
    }

    @BeforeEach
    void forget() {
        REQUESTS.clear();
    }

    private static HttpResponse<String> post(String body) throws Exception {
        return CLIENT.send(HttpRequest.newBuilder(base.resolve("/v1/images/generations"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.replace('\'', '"'))).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static JsonNode json(HttpResponse<String> response) throws Exception {
        return OpenAiResponses.MAPPER.readTree(response.body());
    }

    private static float[][] png(JsonNode b64) {
        return Png.decode(Base64.getDecoder().decode(b64.asText()));
    }

    @Test
    void answersNPngsOfTheClassWithConsecutiveSeeds() throws Exception {
        HttpResponse<String> r = post("{'model': 'img', 'prompt': 'Sneaker', 'n': 3, 'size': '28x28', 'seed': 20,"
                + " 'arbor': {'generator': 'jacobi', 'options': {'top_k': 50}}}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode body = json(r);
        assertThat(body.get("created").asLong()).isPositive();
        assertThat(body.get("data")).hasSize(3);
        for (int i = 0; i < 3; i++) {
            JsonNode image = body.get("data").get(i);
            assertThat(image.get("revised_prompt").asText()).isEqualTo("sneaker");
            float[][] pixels = png(image.get("b64_json"));
            assertThat(pixels).hasNumberOfRows(28);
            assertThat(pixels[0]).hasSize(28);
            assertThat(Math.round(pixels[0][0] * 255)).isEqualTo(20 + i);
        }
        assertThat(body.get("usage").get("output_tokens").asInt()).isEqualTo(3 * 49);
        assertThat(REQUESTS).hasSize(3).allSatisfy(req -> {
            assertThat(req.prompt()).isEqualTo("sneaker");
            assertThat(req.generator().name()).isEqualTo("jacobi");
            assertThat(req.options().integer("top_k", 0, 0, 1000)).isEqualTo(50);
            assertThat(req.options().integer("max_tokens", 0, 0, 1000)).isEqualTo(49); // one image's tokens
            assertThat(req.options().longValue("timeout_ms")).isPresent(); // the server's deadline reaches it
        });
    }

    @Test
    void aClassIndexIsAPromptToo() throws Exception {
        HttpResponse<String> r = post("{'model': 'var', 'prompt': 9}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(json(r).get("data").get(0).get("revised_prompt").asText()).isEqualTo("ankle boot");
        assertThat(REQUESTS.get(0).options().integer("max_tokens", 0, 0, 1000)).isEqualTo(104);
        assertThat(json(post("{'model': 'img', 'prompt': '3'}")).get("data").get(0).get("revised_prompt").asText())
                .isEqualTo("dress");
    }

    @Test
    void nOutsideTheConfiguredLimitIsRefused() throws Exception {
        for (String n : List.of("0", "5", "2.5", "'two'")) {
            HttpResponse<String> r = post("{'model': 'img', 'prompt': 'bag', 'n': " + n + "}");
            assertThat(r.statusCode()).as(n).isEqualTo(400);
            assertThat(json(r).get("error").get("param").asText()).isEqualTo("n");
        }
        assertThat(json(post("{'model': 'img', 'prompt': 'bag', 'n': 5}")).get("error").get("message").asText())
                .contains("between 1 and 4", "max_images");
        assertThat(ServerSettings.from(Map.of()).maxImages()).isEqualTo(16);
        assertThat(REQUESTS).isEmpty();
    }

    @Test
    void urlFormatIsRefusedSayingOnlyB64JsonIsServed() throws Exception {
        HttpResponse<String> r = post("{'model': 'img', 'prompt': 'bag', 'response_format': 'url'}");
        assertThat(r.statusCode()).isEqualTo(400);
        JsonNode error = json(r).get("error");
        assertThat(error.get("param").asText()).isEqualTo("response_format");
        assertThat(error.get("message").asText()).contains("b64_json");
        assertThat(post("{'model': 'img', 'prompt': 'bag', 'response_format': 'b64_json'}").statusCode())
                .isEqualTo(200);
        assertThat(post("{'model': 'img', 'prompt': 'bag', 'output_format': 'jpeg'}").statusCode()).isEqualTo(400);
    }

    @Test
    void unknownClassIsA400ListingTheClasses() throws Exception {
        HttpResponse<String> r = post("{'model': 'img', 'prompt': 'a giraffe on a bike'}");
        assertThat(r.statusCode()).isEqualTo(400);
        JsonNode error = json(r).get("error");
        assertThat(error.get("param").asText()).isEqualTo("prompt");
        assertThat(error.get("message").asText()).contains("a giraffe on a bike", "t-shirt/top", "sneaker",
                "ankle boot", "0-9");
        assertThat(post("{'model': 'img', 'prompt': 10}").statusCode()).isEqualTo(400);
        assertThat(post("{'model': 'img'}").statusCode()).isEqualTo(400);
        assertThat(REQUESTS).isEmpty();
    }

    @Test
    void aTextPipelineIsA400NamingIt() throws Exception {
        HttpResponse<String> r = post("{'model': 'txt', 'prompt': 'sneaker'}");
        assertThat(r.statusCode()).isEqualTo(400);
        JsonNode error = json(r).get("error");
        assertThat(error.get("param").asText()).isEqualTo("model");
        assertThat(error.get("message").asText()).contains("'txt'", "text", "/v1/completions");
        assertThat(post("{'model': 'nope', 'prompt': 'sneaker'}").statusCode()).isEqualTo(404);
    }

    @Test
    void anotherSizeIsRefused() throws Exception {
        HttpResponse<String> r = post("{'model': 'img', 'prompt': 'coat', 'size': '1024x1024'}");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).get("error").get("message").asText()).contains("28x28", "1024x1024");
    }

    @Test
    void aPipelineWithoutImagePngNamesThePostProcessor() throws Exception {
        HttpResponse<String> r = post("{'model': 'nopng', 'prompt': 'coat'}");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).get("error").get("message").asText()).contains("image-png");
    }

    @Test
    void streamsPartialImagesThenEachCompletedImage() throws Exception {
        HttpResponse<String> r = post("{'model': 'var', 'prompt': 'sneaker', 'n': 2, 'stream': true, 'seed': 3}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/event-stream");
        List<String> types = new ArrayList<>();
        List<String> events = new ArrayList<>();
        List<JsonNode> data = new ArrayList<>();
        for (String frame : r.body().split("\n\n")) {
            if (frame.startsWith("event: ")) {
                events.add(frame.substring(7, frame.indexOf('\n')));
                JsonNode node = OpenAiResponses.MAPPER.readTree(frame.substring(frame.indexOf("data: ") + 6));
                types.add(node.get("type").asText());
                data.add(node);
            } else {
                assertThat(frame).isEqualTo("data: [DONE]");
            }
        }
        List<String> expected = List.of("image_generation.partial_image", "image_generation.partial_image",
                "image_generation.completed", "image_generation.partial_image", "image_generation.partial_image",
                "image_generation.completed");
        assertThat(types).isEqualTo(expected);
        assertThat(events).isEqualTo(expected);
        assertThat(data.get(0).get("partial_image_index").asInt()).isZero();
        assertThat(data.get(1).get("partial_image_index").asInt()).isEqualTo(1);
        assertThat(data.get(3).get("partial_image_index").asInt()).isZero(); // counted per image
        assertThat(data.get(3).get("arbor_image_index").asInt()).isEqualTo(1);
        assertThat(png(data.get(1).get("b64_json"))[0][0]).isEqualTo(1f);
        assertThat(data.get(2).get("revised_prompt").asText()).isEqualTo("sneaker");
        assertThat(data.get(2).get("size").asText()).isEqualTo("28x28");
        assertThat(Math.round(png(data.get(5).get("b64_json"))[0][0] * 255)).isEqualTo(4); // seed 3 + 1
        assertThat(REQUESTS).allSatisfy(req -> assertThat(req.options().bool("stream_canvas", false)).isTrue());
    }

    @Test
    void partialImagesBoundsThePartialEvents() throws Exception {
        String one = post("{'model': 'var', 'prompt': 'bag', 'stream': true, 'partial_images': 1}").body();
        assertThat(one.split("event: image_generation.partial_image", -1)).hasSize(2);
        String none = post("{'model': 'var', 'prompt': 'bag', 'stream': true, 'partial_images': 0}").body();
        assertThat(none).doesNotContain("partial_image\n").contains("event: image_generation.completed");
        // no canvases asked for at all: the platform decodes none
        assertThat(REQUESTS.get(REQUESTS.size() - 1).options().bool("stream_canvas", false)).isFalse();
        assertThat(post("{'model': 'var', 'prompt': 'bag', 'stream': true, 'partial_images': -1}").statusCode())
                .isEqualTo(400);
    }

    @Test
    void streamValidationFailuresAreStillStatusCodes() throws Exception {
        HttpResponse<String> r = post("{'model': 'txt', 'prompt': 'bag', 'stream': true}");
        assertThat(r.statusCode()).isEqualTo(400);
        assertThat(json(r).get("error").get("param").asText()).isEqualTo("model");
    }

    @Test
    void requestsAreCountedUnderTheirEndpointAndPipeline() throws Exception {
        post("{'model': 'img', 'prompt': 'bag'}");
        // the exchange is counted once its answer is written: the client can see the answer first
        java.util.regex.Pattern counted = java.util.regex.Pattern.compile("arbor_http_requests_total\\{[^}]*endpoint="
                + "\"images.generations\"[^}]*\\}");
        dev.arbor.testkit.Await.until(() -> counted.matcher(metrics.scrape()).find(),
                () -> "the images request to be counted: " + metrics.scrape());
        assertThat(metrics.scrape()).containsPattern("arbor_http_requests_total\\{[^}]*endpoint=\"images.generations\""
                + "[^}]*\\}").contains("pipeline=\"img\"");
    }
}
