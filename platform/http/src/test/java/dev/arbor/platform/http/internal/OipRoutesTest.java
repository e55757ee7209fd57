package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.platform.oip.server.PipelineModel;
import dev.arbor.platform.oip.server.ServedModels;
import dev.arbor.platform.oip.server.ServingState;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The Open Inference Protocol's REST routes on the OpenAI server: auth, metadata, inference, hostile bodies, drain. */
class OipRoutesTest {
    private static final String KEY = "sesame";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final FakePipelines pipelines = new FakePipelines();
    private final HttpClient client = HttpClient.newHttpClient();
    private final Drain state = new Drain();
    private Server server;
    private Workers workers;
    private URI base;

    /** A drain the test steps through by hand: not ready, then refusing. */
    static final class Drain implements ServingState {
        volatile boolean draining;
        volatile boolean refusing;

        @Override
        public boolean ready() {
            return !draining;
        }

        @Override
        public boolean refusing() {
            return refusing;
        }

        @Override
        public void beginDrain(String why) {
            draining = true;
        }

        @Override
        public void awaitRefusing() {
            refusing = true;
        }

        @Override
        public long drainDelayMillis() {
            return 0;
        }
    }

    @BeforeEach
    void start() throws Exception {
        ServerSettings settings = ServerSettings.from(Map.of("port", 0, "api_key", KEY, "workers", 2,
                "request_timeout_ms", 20_000, "max_tokens", 50, "max_body_bytes", 10_000));
        ServerMetrics metrics = new ServerMetrics(MetricLabels.of(Set.of("echo", "slow"), Set.of()));
        workers = new Workers(settings.workers(), getClass().getClassLoader(), metrics::abandoned);
        server = new Server();
        ServerConnector connector = HttpServerComponent.connector(server, settings);
        server.addConnector(connector);
        OpenAiHandler handler = new OpenAiHandler(pipelines, settings, metrics, workers);
        ServedModels served = new ServedModels(List::of, pipelines, PipelineModel.Limits.of(settings.maxTokens(),
                settings.maxPromptTokens(), settings.maxPromptBytes()));
        handler.oip(new OipRoutes(served, state, "0.1.0"), state::refusing);
        server.setHandler(handler);
        server.start();
        base = URI.create("http://127.0.0.1:" + connector.getLocalPort());
    }

    @AfterEach
    void stop() throws Exception {
        pipelines.release.countDown();
        server.stop();
        workers.close();
    }

    private HttpResponse<String> get(String path, boolean key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path));
        if (key) {
            b.header("Authorization", "Bearer " + KEY);
        }
        return client.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private CompletableFuture<HttpResponse<String>> postAsync(String path, String body) {
        return client.sendAsync(HttpRequest.newBuilder(base.resolve(path)).header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return postAsync(path, body).get(30, TimeUnit.SECONDS);
    }

    private static JsonNode json(HttpResponse<String> r) throws Exception {
        return JSON.readTree(r.body());
    }

    private static String infer(String inputs) {
        return "{\"id\": \"r1\", \"inputs\": [" + inputs + "]}";
    }

    private static final String TEXT = "{\"name\": \"text_input\", \"datatype\": \"BYTES\", \"shape\": [1],"
            + " \"data\": [\"hi\"]}";

    @Test
    void healthNeedsNoKeyWhileEverythingElseDoes() throws Exception {
        HttpResponse<String> live = get("/v2/health/live", false);
        assertThat(live.statusCode()).isEqualTo(200);
        assertThat(json(live).get("live").asBoolean()).isTrue();
        HttpResponse<String> ready = get("/v2/health/ready", false);
        assertThat(ready.statusCode()).isEqualTo(200);
        assertThat(json(ready).get("ready").asBoolean()).isTrue();
        HttpResponse<String> meta = get("/v2", false);
        assertThat(meta.statusCode()).isEqualTo(401);
        assertThat(json(meta).get("error").asText()).contains("missing API key");
        assertThat(json(get("/v2", true)).get("name").asText()).isEqualTo("arbor");
    }

    @Test
    void modelMetadataAndReadiness() throws Exception {
        JsonNode meta = json(get("/v2/models/echo", true));
        assertThat(meta.get("platform").asText()).isEqualTo("arbor-pipeline");
        assertThat(meta.get("inputs").toString()).isEqualTo("[{\"name\":\"text_input\",\"datatype\":\"BYTES\","
                + "\"shape\":[-1]},{\"name\":\"input_ids\",\"datatype\":\"INT64\",\"shape\":[-1,-1]}]");
        assertThat(get("/v2/models/echo/ready", true).statusCode()).isEqualTo(200);
        HttpResponse<String> missing = get("/v2/models/nope", true);
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(json(missing).get("error").asText()).isEqualTo("unknown model 'nope'; ready models: echo, slow");
        assertThat(get("/v2/models/echo/versions/3/ready", true).statusCode()).isEqualTo(404);
        assertThat(get("/v2/models/echo/infer", true).statusCode()).isEqualTo(405);
        assertThat(get("/v2/repository/index", true).statusCode()).isEqualTo(404);
    }

    @Test
    void infersTextAndTokenIds() throws Exception {
        HttpResponse<String> r = post("/v2/models/echo/infer", infer(TEXT));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode body = json(r);
        assertThat(body.get("model_name").asText()).isEqualTo("echo");
        assertThat(body.get("id").asText()).isEqualTo("r1");
        assertThat(body.get("outputs").toString()).isEqualTo("[{\"name\":\"text_output\",\"datatype\":\"BYTES\","
                + "\"shape\":[1],\"data\":[\"ok\"]},{\"name\":\"output_ids\",\"datatype\":\"INT64\",\"shape\":[1,1],"
                + "\"data\":[7]}]");
        // nested data (row-major), a requested output, parameters
        HttpResponse<String> ids = post("/v2/models/echo/infer", "{\"inputs\": [{\"name\": \"input_ids\","
                + " \"datatype\": \"INT64\", \"shape\": [2, 2], \"data\": [[1, 2], [3, 4]]}], \"outputs\":"
                + " [{\"name\": \"output_ids\"}], \"parameters\": {\"max_tokens\": 5, \"temperature\": 0.7,"
                + " \"stop\": [\"\\n\"], \"arbor.num_beams\": 2}}");
        assertThat(ids.statusCode()).as(ids.body()).isEqualTo(200);
        assertThat(json(ids).get("outputs").toString()).isEqualTo("[{\"name\":\"output_ids\",\"datatype\":"
                + "\"INT64\",\"shape\":[2,1],\"data\":[7,7]}]");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "datatype mismatch|{\"name\": \"text_input\", \"datatype\": \"INT64\", \"shape\": [1], \"data\": [1]}"
                + "|inputs[0].datatype: input 'text_input' of model 'echo' is BYTES, got INT64",
        "data length|{\"name\": \"text_input\", \"datatype\": \"BYTES\", \"shape\": [2], \"data\": [\"a\"]}"
                + "|inputs[0].data: holds 1 elements; the shape [2] holds 2",
        "more data than shape|{\"name\": \"text_input\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\":"
                + " [\"a\", \"b\"]}|inputs[0].data: holds more elements than the shape's 1",
        "huge shape|{\"name\": \"text_input\", \"datatype\": \"BYTES\", \"shape\": [100000, 100000], \"data\":"
                + " [\"a\"]}|inputs[0].shape: shape [100000, 100000] holds more than this server's limit of 10000",
        "negative dimension|{\"name\": \"text_input\", \"datatype\": \"BYTES\", \"shape\": [-1], \"data\": []}"
                + "|inputs[0].shape[0]: a dimension must be 0 or more, got -1",
        "unknown input|{\"name\": \"prompt\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [\"a\"]}"
                + "|inputs[0].name: model 'echo' has no input 'prompt'",
        "shape not a list|{\"name\": \"text_input\", \"datatype\": \"BYTES\", \"shape\": \"1\", \"data\": [\"a\"]}"
                + "|inputs[0].shape: must be a list of integers",
        "element of wrong type|{\"name\": \"text_input\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [1]}"
                + "|inputs[0].data[0]: must be a string, got a number (1)",
        "id out of range|{\"name\": \"input_ids\", \"datatype\": \"INT64\", \"shape\": [1, 1], \"data\": [1.5]}"
                + "|inputs[0].data[0]: must be a 64-bit integer, got a number (1.5)",
        "unknown datatype|{\"name\": \"text_input\", \"datatype\": \"TEXT\", \"shape\": [1], \"data\": [\"a\"]}"
                + "|inputs[0].datatype: unknown datatype 'TEXT'",
        "uncarried datatype|{\"name\": \"text_input\", \"datatype\": \"FP16\", \"shape\": [1], \"data\": [1]}"
                + "|inputs[0].datatype: FP16 is not carried by this server",
        "rank|{\"name\": \"input_ids\", \"datatype\": \"INT64\", \"shape\": [2], \"data\": [1, 2]}"
                + "|inputs[0].shape: input 'input_ids' of model 'echo' has 2 dimensions",
    })
    void hostileTensorsAre400sNamingTheField(String what, String tensor, String message) throws Exception {
        HttpResponse<String> r = post("/v2/models/echo/infer", infer(tensor));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).get("error").asText()).contains(message);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "not json|{inputs|the request body is not valid JSON",
        "inputs not a list|{\"inputs\": {}}|inputs: must be a list of tensors",
        "no prompt|{\"inputs\": []}|inputs: give the prompts as 'text_input'",
        "parameter type|{\"inputs\": [" + TEXT + "], \"parameters\": {\"temperature\": \"hot\"}}"
                + "|parameters.temperature: must be a number, got a string (hot)",
        "parameter object|{\"inputs\": [" + TEXT + "], \"parameters\": {\"arbor.x\": {\"a\": 1}}}"
                + "|parameters.arbor.x: must be a string, a number, a boolean or a list of strings",
        "unknown parameter|{\"inputs\": [" + TEXT + "], \"parameters\": {\"beams\": 2}}"
                + "|parameters.beams: unknown parameter",
        "max_tokens over the limit|{\"inputs\": [" + TEXT + "], \"parameters\": {\"max_tokens\": 51}}"
                + "|parameters.max_tokens: is 51, more than this server's limit of 50",
        "unknown output|{\"inputs\": [" + TEXT + "], \"outputs\": [{\"name\": \"logits\"}]}"
                + "|outputs[0].name: model 'echo' has no output 'logits'",
        "id not a string|{\"id\": 5, \"inputs\": [" + TEXT + "]}|id: must be a string",
    })
    void hostileBodiesAre400sNamingTheField(String what, String body, String message) throws Exception {
        HttpResponse<String> r = post("/v2/models/echo/infer", body);
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(json(r).get("error").asText()).contains(message);
    }

    @Test
    void drainTurnsReadinessFalseFirstThenRefusesWith503WhileRunningRequestsFinish() throws Exception {
        CompletableFuture<HttpResponse<String>> running = postAsync("/v2/models/slow/infer", infer(TEXT));
        assertThat(pipelines.slowStarted.await(10, TimeUnit.SECONDS)).isTrue();
        state.beginDrain("test");
        // not ready first, while requests are still served: balancers stop sending during the delay
        HttpResponse<String> ready = get("/v2/health/ready", false);
        assertThat(ready.statusCode()).isEqualTo(400);
        assertThat(json(ready).get("reason").asText()).contains("draining");
        assertThat(get("/v2/health/live", false).statusCode()).isEqualTo(200);
        assertThat(post("/v2/models/echo/infer", infer(TEXT)).statusCode()).isEqualTo(200);
        assertThat(post("/v1/completions", "{\"model\": \"echo\", \"prompt\": \"a\"}").statusCode()).isEqualTo(200);
        // then refusing: new requests on both APIs get 503 with Retry-After; the running one finishes
        state.awaitRefusing();
        HttpResponse<String> refused = post("/v2/models/echo/infer", infer(TEXT));
        assertThat(refused.statusCode()).isEqualTo(503);
        assertThat(refused.headers().firstValue("Retry-After")).contains("5");
        assertThat(json(refused).get("error").asText()).contains("the server is stopping");
        assertThat(post("/v1/completions", "{\"model\": \"echo\", \"prompt\": \"a\"}").statusCode()).isEqualTo(503);
        assertThat(get("/v2/health/ready", false).statusCode()).isEqualTo(400);
        pipelines.release.countDown();
        HttpResponse<String> finished = running.get(30, TimeUnit.SECONDS);
        assertThat(finished.statusCode()).as(finished.body()).isEqualTo(200);
        assertThat(json(finished).get("outputs").get(0).get("data").get(0).asText()).isEqualTo("ok");
    }
}
