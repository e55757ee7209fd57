package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.ArborException;
import dev.arbor.api.prognostics.AssessRequest;
import dev.arbor.api.prognostics.Assessment;
import dev.arbor.api.prognostics.FitReport;
import dev.arbor.api.prognostics.FitRequest;
import dev.arbor.api.prognostics.Prognostics;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code POST /v1/prognostics/assess} on a real Jetty with a fake prognostics service: the request reaches the
 * service as typed values, the answer maps every field (an infinite RUL as null), malformed bodies are 400, the
 * service's NOT_FOUND is 404, a missing service 503, and the request's deadline reaches the service's simulation
 * as cancellation (504).
 */
class PrognosticsEndpointTest {
    private static final AtomicReference<AssessRequest> SEEN = new AtomicReference<>();
    private static final CountDownLatch CANCELLED = new CountDownLatch(1);
    private static final AtomicReference<Prognostics> SERVICE = new AtomicReference<>();

    static final Prognostics FAKE = new Prognostics() {
        @Override
        public List<String> models() {
            return List.of("engine", "slow");
        }

        @Override
        public Assessment assess(AssessRequest request) {
            SEEN.set(request);
            switch (request.model()) {
                case "engine" -> {
                    double[][] post = {{0.75, 0.25}, {0.5, 0.5}};
                    return new Assessment("engine", 2, 1, 1, post, post, new int[] {0, 1}, 1, -3.5,
                            new Assessment.Rul(Double.POSITIVE_INFINITY, new double[] {0.05, 0.5},
                                    new double[] {2, Double.POSITIVE_INFINITY}, 10, 0.6),
                            new Assessment.Forecast(1, new double[][] {{0.4}}, new double[][] {{0.3}},
                                    new double[][] {{0.4}}, new double[][] {{0.5}}, new double[] {0.1}));
                }
                case "slow" -> {
                    // a simulation that only ends when the request is cancelled
                    while (!request.cancellation().isCancelled()) {
                        Thread.onSpinWait();
                    }
                    CANCELLED.countDown();
                    throw new ArborException(ArborException.Kind.CANCELLED, "simulation cancelled");
                }
                default -> throw new ArborException(ArborException.Kind.NOT_FOUND, "no prognostic model named '"
                        + request.model() + "'; declared models: engine, slow");
            }
        }

        @Override
        public FitReport fit(FitRequest request) {
            throw new IllegalStateException("not reachable over HTTP");
        }
    };

    private static Server server;
    private static Workers workers;
    private static URI base;
    private static final HttpClient CLIENT = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        ServerSettings settings = ServerSettings.from(Map.of("port", 0, "request_timeout_ms", 500, "workers", 2));
        ServerMetrics metrics = new ServerMetrics(MetricLabels.of(java.util.Set.of(), java.util.Set.of()));
        workers = new Workers(settings.workers(), PrognosticsEndpointTest.class.getClassLoader(), metrics::abandoned);
        server = new Server();
        ServerConnector connector = HttpServerComponent.connector(server, settings);
        server.addConnector(connector);
        OpenAiHandler handler = new OpenAiHandler(ImagesEndpointTest.FAKE, settings, metrics, workers);
        SERVICE.set(FAKE);
        handler.prognostics(SERVICE::get);
        server.setHandler(handler);
        server.start();
        base = URI.create("http://127.0.0.1:" + connector.getLocalPort());
    }

    @AfterAll
    static void stop() throws Exception {
        server.stop();
        workers.close();
    }

    private static HttpResponse<String> post(String body) throws Exception {
        return CLIENT.send(HttpRequest.newBuilder(base.resolve("/v1/prognostics/assess"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.replace('\'', '"'))).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void theRequestReachesTheServiceAndEveryFieldIsAnswered() throws Exception {
        HttpResponse<String> r = post("{'model': 'engine', 'series': [[1.0, 2.0], [3.0, 4.0], [5, 6]],"
                + " 'plausibilities': [[1, 0], [1, 1], [0.5, 1]], 'horizon': 1, 'samples': 10, 'seed': 42}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        AssessRequest seen = SEEN.get();
        assertThat(seen.series()).isDeepEqualTo(new double[][] {{1, 2}, {3, 4}, {5, 6}});
        assertThat(seen.plausibilities()[2]).containsExactly(0.5, 1);
        assertThat(seen.horizon()).isEqualTo(1);
        assertThat(seen.samples()).isEqualTo(10);
        assertThat(seen.seed()).isEqualTo(42);
        JsonNode a = OpenAiResponses.MAPPER.readTree(r.body());
        assertThat(a.get("object").asText()).isEqualTo("prognostics.assessment");
        assertThat(a.get("current_state").asInt()).isEqualTo(1);
        assertThat(a.get("current_posterior").get(1).asDouble()).isEqualTo(0.5);
        assertThat(a.get("viterbi").toString()).isEqualTo("[0,1]");
        assertThat(a.get("rul").get("expected").isNull()).isTrue();
        assertThat(a.get("rul").get("quantiles").get("p05").asDouble()).isEqualTo(2);
        assertThat(a.get("rul").get("quantiles").get("p50").isNull()).isTrue();
        assertThat(a.get("rul").get("censored").asDouble()).isEqualTo(0.6);
        assertThat(a.get("forecast").get("p95").get(0).get(0).asDouble()).isEqualTo(0.5);
        assertThat(a.get("forecast").get("failure_probability").get(0).asDouble()).isEqualTo(0.1);
        // defaults, and a series of plain numbers is one value per step
        post("{'model': 'engine', 'series': [1, 2, 3]}");
        assertThat(SEEN.get().series()).isDeepEqualTo(new double[][] {{1}, {2}, {3}});
        assertThat(SEEN.get().samples()).isEqualTo(PrognosticsRoute.DEFAULT_SAMPLES);
        assertThat(SEEN.get().horizon()).isZero();
    }

    @Test
    void malformedRequestsAre400NamingTheField() throws Exception {
        String[][] cases = {
            {"{'series': [[1]]}", "'model'"},
            {"{'model': 'engine'}", "'series' is required"},
            {"{'model': 'engine', 'series': 'data.csv'}", "array of arrays"},
            {"{'model': 'engine', 'series': [[1], ['x']]}", "'series'[1][0] is not a number"},
            {"{'model': 'engine', 'series': [[1]], 'samples': 1.5}", "'samples' must be an integer"},
            {"{'model': 'engine', 'series': [[1]], 'horizon': 'far'}", "'horizon' must be an integer"},
            {"{'model': 'engine', 'series': [[1]], 'path': '/etc/passwd'}", "unknown field 'path'"},
            {"{'model': 'engine', 'series': [[NaN]]}", "not valid JSON"},
        };
        for (String[] c : cases) {
            HttpResponse<String> r = post(c[0]);
            assertThat(r.statusCode()).as(c[0] + " -> " + r.body()).isEqualTo(400);
            assertThat(r.body()).as(c[0]).contains(c[1]);
        }
        assertThat(post("{'model': 'engine', 'series': [[1]]}".replace("engine", "x")).statusCode()).isEqualTo(404);
        HttpResponse<String> get = CLIENT.send(HttpRequest.newBuilder(base.resolve("/v1/prognostics/assess")).GET()
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(get.statusCode()).isEqualTo(405);
    }

    @Test
    void anUnknownModelIs404NamingTheDeclaredOnes() throws Exception {
        HttpResponse<String> r = post("{'model': 'turbine', 'series': [[1], [2]]}");
        assertThat(r.statusCode()).isEqualTo(404);
        assertThat(r.body()).contains("turbine").contains("declared models: engine, slow");
    }

    @Test
    void theDeadlineCancelsTheSimulation() throws Exception {
        HttpResponse<String> r = post("{'model': 'slow', 'series': [[1], [2]]}");
        assertThat(r.statusCode()).as(r.body()).isEqualTo(504);
        assertThat(CANCELLED.await(10, TimeUnit.SECONDS)).as("the service saw the cancellation").isTrue();
    }

    @Test
    void withoutAPrognosticsServiceTheEndpointIs503() throws Exception {
        SERVICE.set(null);
        try {
            HttpResponse<String> r = post("{'model': 'engine', 'series': [[1], [2]]}");
            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(r.body()).contains("dev.arbor.prognostics.arphmm");
        } finally {
            SERVICE.set(FAKE);
        }
    }
}
