package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.images.ImageGenStreamEvent;
import com.openai.models.images.ImageGenerateParams;
import com.openai.models.images.ImagesResponse;
import dev.arbor.api.image.Png;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TokenizerRef;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.osgi.framework.ServiceReference;

/**
 * The shipped image pipelines ({@code etc/pipelines/fashion-*.json}) with the installation's own models
 * ({@code models/fashion-vq}, {@code models/fashion-ar}, {@code models/fashion-var}, {@code models/fashion-nbp}) through
 * {@code POST /v1/images/generations} and {@code bin/arbor image}: the answers are PNGs that decode to 28x28. A
 * missing pipeline, model or generator bundle fails (naming what is missing), it is never skipped: these pipelines
 * must work on a fresh clone.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ImagesIT {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final List<String> IMAGE_PIPELINES = List.of("fashion-ar", "fashion-var", "fashion-ar-sjd",
            "fashion-ar-gsd", "fashion-nbp", "fashion-xar", "fashion-shuffle", "fashion-detailflow", "fashion-vf",
            "fashion-cgauss", "fashion-cspd", "fashion-dd", "fashion-ar-flowmap");
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Path dist = Path.of(System.getProperty("arbor.dist", "target/arbor")).toAbsolutePath();
    private Path home;
    private RuntimeHarness runtime;
    private PipelineService pipelines;
    private URI uri;

    @BeforeAll
    void start() throws Exception {
        home = Files.createTempDirectory("arbor-images-it-");
        // ${arbor.home}/models of the shipped pipelines: the installation's models (as bin/arbor runs them)
        Files.createSymbolicLink(home.resolve("models"), dist.resolve("models"));
        runtime = new RuntimeHarness(home, null);
        pipelines = runtime.pipelines();
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("port", 0);
        config.put("request_timeout_ms", 120_000);
        uri = runtime.startHttp(config);
    }

    @AfterAll
    void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
        RuntimeHarness.deleteTree(home);
    }

    private HttpResponse<String> post(String body) throws Exception {
        return http.send(HttpRequest.newBuilder(uri.resolve("/v1/images/generations")).timeout(Duration.ofMinutes(3))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.replace('\'', '"'))).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** Fails, naming the file, when a shipped image pipeline is not configured; waits until it is ready. */
    private PipelineStatus ready(String pipeline) {
        assertThat(pipelines.status(pipeline)).as("pipeline %s is not configured: etc/pipelines/%s.json is missing"
                + " from the distribution (configured: %s)", pipeline, pipeline, pipelines.pipelines().stream()
                .map(PipelineStatus::name).toList()).isPresent();
        return runtime.awaitReady(pipeline);
    }

    private static float[][] decode(JsonNode b64) {
        return Png.decode(Base64.getDecoder().decode(b64.asText()));
    }

    private static void assertFashionImage(float[][] pixels) {
        assertThat(pixels).hasNumberOfRows(28);
        for (float[] row : pixels) {
            assertThat(row).hasSize(28);
        }
    }

    @Test
    void everyShippedImagePipelineIsConfiguredWithTheImageTokenizer() {
        for (String name : IMAGE_PIPELINES) {
            assertThat(pipelines.status(name)).as("etc/pipelines/%s.json shipped", name).isPresent();
            var layout = pipelines.imageLayout(name);
            assertThat(layout).as("%s has an image tokenizer", name).isPresent();
            assertThat(layout.get().width()).isEqualTo(28);
            assertThat(layout.get().classNames()).hasSize(10).contains("sneaker", "ankle boot");
        }
        assertThat(pipelines.imageLayout("fashion-ar").orElseThrow().tokensPerImage()).isEqualTo(49);
        assertThat(pipelines.imageLayout("fashion-var").orElseThrow().tokensPerImage()).isEqualTo(104);
        assertThat(pipelines.imageLayout("arbor-tiny")).isEmpty();
    }

    /** Part 2's decoders, one image each through the HTTP API: the shipped pipeline, its model and its tokenizer. */
    @ParameterizedTest
    @ValueSource(strings = {"fashion-shuffle", "fashion-detailflow", "fashion-vf", "fashion-cgauss", "fashion-cspd",
            "fashion-dd", "fashion-ar-flowmap"})
    void everyImageDecoderOfPartTwoAnswersAPng(String pipeline) throws Exception {
        ready(pipeline);
        HttpResponse<String> r = post("{'model': '" + pipeline + "', 'prompt': 'sneaker', 'seed': 3}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertFashionImage(decode(MAPPER.readTree(r.body()).get("data").get(0).get("b64_json")));
    }

    @Test
    void refusesAnUnknownClassListingTheClassesAndATextPipelineNamingIt() throws Exception {
        HttpResponse<String> unknown = post("{'model': 'fashion-ar', 'prompt': 'giraffe'}");
        assertThat(unknown.statusCode()).as(unknown.body()).isEqualTo(400);
        assertThat(MAPPER.readTree(unknown.body()).get("error").get("message").asText())
                .contains("giraffe", "t-shirt/top", "sneaker", "ankle boot");
        HttpResponse<String> text = post("{'model': 'arbor-tiny', 'prompt': 'sneaker'}");
        assertThat(text.statusCode()).as(text.body()).isEqualTo(400);
        assertThat(MAPPER.readTree(text.body()).get("error").get("message").asText()).contains("'arbor-tiny'");
    }

    /** Defines (once) "fashion-standin": see {@link #aStandInPriorGoesThroughTheWholeImagePath}. */
    private synchronized void standIn() {
        if (pipelines.status("fashion-standin").isPresent()) {
            return;
        }
        PipelineDefinition text = runtime.awaitReady("arbor-tiny").definition();
        Map<String, Object> ban = new LinkedHashMap<>();
        for (int id = 512; id < 1024; id++) {
            ban.put(Integer.toString(id), -100);
        }
        Map<String, Object> defaults = new LinkedHashMap<>();
        defaults.put("logit_bias", ban);
        defaults.put("top_k", 20);
        defaults.put("ignore_eos", true);
        pipelines.define(new PipelineDefinition("fashion-standin", "image plumbing test", text.model(),
                new TokenizerRef("image-vq", dist.resolve("models/fashion-vq/fashion-patch-vq.bin").toString(),
                        Options.empty()), PartRef.of("autoregressive"),
                List.of(PartRef.of("logit-bias"), PartRef.of("top-k")), PartRef.of("sample"),
                List.of(PartRef.of("image-png")), Options.of(defaults), null));
        runtime.awaitReady("fashion-standin");
    }

    /**
     * raster-ar on the stand-in prior (it masks non-codes itself): streams one partial image per row of patches, each
     * showing the rows so far and black below, then the completed image, which equals the last partial one.
     */
    @Test
    void rasterArStreamsAPartialImagePerRowOfPatches() throws Exception {
        standIn();
        PipelineDefinition standIn = pipelines.status("fashion-standin").orElseThrow().definition();
        pipelines.define(new PipelineDefinition("fashion-standin-raster", "raster-ar plumbing test", standIn.model(),
                standIn.tokenizer(), PartRef.of("raster-ar"), List.of(PartRef.of("top-k")), standIn.selector(),
                standIn.postProcessors(), Options.of(Map.of("top_k", 20)), null));
        runtime.awaitReady("fashion-standin-raster");
        HttpResponse<String> s = post("{'model': 'fashion-standin-raster', 'prompt': 'coat', 'stream': true,"
                + " 'seed': 11}");
        assertThat(s.statusCode()).as(s.body()).isEqualTo(200);
        List<float[][]> partial = new ArrayList<>();
        float[][] completed = null;
        for (String frame : s.body().split("\n\n")) {
            int data = frame.indexOf("data: ");
            if (data < 0 || frame.endsWith("[DONE]")) {
                continue;
            }
            JsonNode event = MAPPER.readTree(frame.substring(data + 6));
            assertThat(event.has("error")).as("stream failed: %s", frame).isFalse();
            if (event.get("type").asText().equals("image_generation.partial_image")) {
                assertThat(event.get("partial_image_index").asInt()).isEqualTo(partial.size());
                partial.add(decode(event.get("b64_json")));
            } else {
                completed = decode(event.get("b64_json"));
            }
        }
        assertThat(partial).as("one partial image per row of 4x4 patches").hasSize(7);
        assertThat(completed).isNotNull();
        for (int row = 0; row < 7; row++) {
            for (int y = 4 * (row + 1); y < 28; y++) {
                for (float v : partial.get(row)[y]) {
                    assertThat(v).as("partial %d, pixel row %d: not generated yet", row, y).isZero();
                }
            }
        }
        assertThat(partial.get(6)).isDeepEqualTo(completed);
    }

    /** {@code arbor image} (the framework's CLI service, as bin/arbor calls it) on the stand-in pipeline. */
    @Test
    @SuppressWarnings("unchecked")
    void theImageCommandWritesClassIndexedPngs() throws Exception {
        standIn();
        ServiceReference<?> ref = runtime.context().getAllServiceReferences(java.util.function.Function.class.getName(),
                "(arbor.command=cli)")[0];
        var cli = (java.util.function.Function<String[], Integer>) runtime.context().getService(ref);
        Path out = home.resolve("cli-images");
        int rc = cli.apply(new String[] {"image", "--pipeline", "fashion-standin", "--class", "ankle boot",
            "--count", "2", "--seed", "4", "--out", out.toString()});
        assertThat(rc).isZero();
        try (var files = Files.list(out)) {
            assertThat(files.map(f -> f.getFileName().toString()).sorted().toList())
                    .containsExactly("9_0.png", "9_1.png");
        }
        for (int n = 0; n < 2; n++) {
            assertFashionImage(Png.decode(Files.readAllBytes(out.resolve("9_" + n + ".png"))));
        }
        assertThat(cli.apply(new String[] {"image", "--pipeline", "fashion-standin", "--class", "giraffe", "--out",
            out.toString()})).isEqualTo(2); // INVALID_INPUT: the message lists the classes on stderr
    }

    /** OpenAI's own Java client reads the answers and the image stream events (stand-in prior as above). */
    @Test
    void theOfficialOpenAiClientReadsImagesAndImageStreams() throws Exception {
        standIn();
        OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(uri + "/v1").apiKey("none").maxRetries(0).build();
        ImageGenerateParams params = ImageGenerateParams.builder().model("fashion-standin").prompt("sandal").n(2)
                .build();
        ImagesResponse response = client.images().generate(params);
        assertThat(response.data().orElseThrow()).hasSize(2).allSatisfy(image -> {
            assertThat(image.revisedPrompt()).hasValue("sandal");
            assertFashionImage(Png.decode(Base64.getDecoder().decode(image.b64Json().orElseThrow())));
        });
        List<ImageGenStreamEvent> events = new ArrayList<>();
        try (StreamResponse<ImageGenStreamEvent> stream = client.images().generateStreaming(params)) {
            stream.stream().forEach(events::add);
        }
        assertThat(events).hasSize(2).allSatisfy(e -> {
            assertThat(e.isGenerationCompleted()).isTrue();
            assertFashionImage(Png.decode(Base64.getDecoder().decode(e.asGenerationCompleted().b64Json())));
        });
    }

    /**
     * The whole image path in the framework before the image priors exist: the patch VQ tokenizer, image-png and the
     * endpoint around a stand-in prior (the text model arbor-tiny-ar, its ids 512.. banned by logit-bias so that it
     * emits codes only, EOS ignored). Checks the plumbing, not the pictures.
     */
    @Test
    void aStandInPriorGoesThroughTheWholeImagePath() throws Exception {
        standIn();
        HttpResponse<String> r = post("{'model': 'fashion-standin', 'prompt': 'trouser', 'n': 2, 'seed': 5}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode body = MAPPER.readTree(r.body());
        assertThat(body.get("data")).hasSize(2);
        for (JsonNode image : body.get("data")) {
            assertThat(image.get("revised_prompt").asText()).isEqualTo("trouser");
            assertFashionImage(decode(image.get("b64_json")));
        }
        assertThat(body.get("usage").get("output_tokens").asInt()).isEqualTo(2 * 49);
        HttpResponse<String> s = post("{'model': 'fashion-standin', 'prompt': 1, 'stream': true, 'seed': 5}");
        assertThat(s.statusCode()).as(s.body()).isEqualTo(200);
        assertThat(s.body()).contains("event: image_generation.completed").endsWith("data: [DONE]\n\n");
        // same seed, same image: the streamed one equals the first of the two above
        String streamed = s.body().substring(s.body().indexOf("\"b64_json\":\"") + 12);
        streamed = streamed.substring(0, streamed.indexOf('"'));
        assertThat(streamed).isEqualTo(body.get("data").get(0).get("b64_json").asText());
    }

    @Test
    void fashionArAnswersPngsThatDecodeTo28x28() throws Exception {
        ready("fashion-ar");
        HttpResponse<String> r = post("{'model': 'fashion-ar', 'prompt': 'sneaker', 'n': 2, 'seed': 7}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode data = MAPPER.readTree(r.body()).get("data");
        assertThat(data).hasSize(2);
        for (JsonNode image : data) {
            assertThat(image.get("revised_prompt").asText()).isEqualTo("sneaker");
            assertFashionImage(decode(image.get("b64_json")));
        }
    }

    @Test
    void fashionVarAnswersPngsAndStreamsPartialImagesScaleByScale() throws Exception {
        ready("fashion-var");
        HttpResponse<String> r = post("{'model': 'fashion-var', 'prompt': 7, 'seed': 3}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        assertFashionImage(decode(MAPPER.readTree(r.body()).get("data").get(0).get("b64_json")));

        HttpResponse<String> s = post("{'model': 'fashion-var', 'prompt': 'bag', 'stream': true, 'seed': 3}");
        assertThat(s.statusCode()).as(s.body()).isEqualTo(200);
        List<JsonNode> partial = new ArrayList<>();
        List<JsonNode> completed = new ArrayList<>();
        for (String frame : s.body().split("\n\n")) {
            int data = frame.indexOf("data: ");
            if (data < 0 || frame.endsWith("[DONE]")) {
                continue;
            }
            JsonNode event = MAPPER.readTree(frame.substring(data + 6));
            assertThat(event.has("error")).as("stream failed: %s", frame).isFalse();
            (event.get("type").asText().equals("image_generation.partial_image") ? partial : completed).add(event);
        }
        assertThat(completed).hasSize(1);
        assertFashionImage(decode(completed.get(0).get("b64_json")));
        // the next-scale generator sends a canvas per scale: coarse images before the last
        assertThat(partial).as("partial images of fashion-var's scales").isNotEmpty();
        for (JsonNode p : partial) {
            assertFashionImage(decode(p.get("b64_json")));
        }
    }

    @Test
    void fashionNbpAnswersPngsAndStreamsPartialImagesBlockByBlock() throws Exception {
        ready("fashion-nbp");
        HttpResponse<String> r = post("{'model': 'fashion-nbp', 'prompt': 'trouser', 'n': 2, 'seed': 5}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        for (JsonNode image : MAPPER.readTree(r.body()).get("data")) {
            assertFashionImage(decode(image.get("b64_json")));
        }
        HttpResponse<String> s = post("{'model': 'fashion-nbp', 'prompt': 'sneaker', 'stream': true, 'seed': 5}");
        assertThat(s.statusCode()).as(s.body()).isEqualTo(200);
        List<JsonNode> partial = new ArrayList<>();
        List<JsonNode> completed = new ArrayList<>();
        for (String frame : s.body().split("\n\n")) {
            int data = frame.indexOf("data: ");
            if (data < 0 || frame.endsWith("[DONE]")) {
                continue;
            }
            JsonNode event = MAPPER.readTree(frame.substring(data + 6));
            assertThat(event.has("error")).as("stream failed: %s", frame).isFalse();
            (event.get("type").asText().equals("image_generation.partial_image") ? partial : completed).add(event);
        }
        assertThat(completed).hasSize(1);
        assertFashionImage(decode(completed.get(0).get("b64_json")));
        // the next-block generator sends a canvas after the first row and after every block of 7 codes
        assertThat(partial).as("partial images of fashion-nbp's blocks").isNotEmpty();
        for (JsonNode p : partial) {
            assertFashionImage(decode(p.get("b64_json")));
        }
    }

    @Test
    void fashionXarAnswersPngsAndStreamsPartialImagesCellByCell() throws Exception {
        ready("fashion-xar");
        assertThat(pipelines.imageLayout("fashion-xar").orElseThrow().tokensPerImage()).isEqualTo(784);
        HttpResponse<String> r = post("{'model': 'fashion-xar', 'prompt': 'trouser', 'seed': 5}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        float[][] image = decode(MAPPER.readTree(r.body()).get("data").get(0).get("b64_json"));
        assertFashionImage(image);
        double ink = 0;
        for (float[] row : image) {
            for (float p : row) {
                ink += p;
            }
        }
        assertThat(ink / 784).as("a generated garment is neither black nor white").isBetween(0.02, 0.9);

        HttpResponse<String> s = post("{'model': 'fashion-xar', 'prompt': 1, 'stream': true, 'seed': 5}");
        assertThat(s.statusCode()).as(s.body()).isEqualTo(200);
        List<JsonNode> partial = new ArrayList<>();
        List<JsonNode> completed = new ArrayList<>();
        for (String frame : s.body().split("\n\n")) {
            int data = frame.indexOf("data: ");
            if (data < 0 || frame.endsWith("[DONE]")) {
                continue;
            }
            JsonNode event = MAPPER.readTree(frame.substring(data + 6));
            assertThat(event.has("error")).as("stream failed: %s", frame).isFalse();
            (event.get("type").asText().equals("image_generation.partial_image") ? partial : completed).add(event);
        }
        // a canvas per cell (4 quadrants); same seed and class, same image as the request above
        assertThat(partial).hasSize(4);
        assertThat(completed).hasSize(1);
        assertThat(completed.get(0).get("b64_json").asText())
                .isEqualTo(MAPPER.readTree(r.body()).get("data").get(0).get("b64_json").asText());
    }

    @Test
    void binArborImageWritesClassIndexedPngs() throws Exception {
        ready("fashion-ar");
        Path out = home.resolve("images-out");
        List<String> cmd = List.of(dist.resolve("bin/arbor").toString(), "image", "--pipeline", "fashion-ar",
                "--class", "sneaker", "--count", "2", "--seed", "1", "--out", out.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(home.toFile());
        Path err = home.resolve("image-stderr.txt");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        String stdout = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("bin/arbor image finished").isTrue();
        assertThat(p.exitValue()).as("exit status; stdout %s, stderr:%n%s", stdout, Files.readString(err)).isZero();
        assertThat(Files.readString(err)).contains("100%");
        for (int n = 0; n < 2; n++) {
            assertFashionImage(Png.decode(Files.readAllBytes(out.resolve("7_" + n + ".png"))));
        }
    }
}
