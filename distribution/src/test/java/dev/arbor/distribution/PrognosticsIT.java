package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.prognostics.AssessRequest;
import dev.arbor.api.prognostics.Prognostics;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Hashtable;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.osgi.framework.ServiceReference;

/**
 * Prognostics in the assembled runtime: the shipped model {@code turbofan-synthetic} (etc/prognostics) answers
 * through {@code arbor prognostics} and {@code POST /v1/prognostics/assess}; a model fitted with the CLI is served at
 * once; hostile requests get 400/404 naming the problem, within the operator's configured limits.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PrognosticsIT {
    private static final String MODEL = "turbofan-synthetic";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private Path home;
    private RuntimeHarness runtime;
    private URI uri;
    private Function<String[], Integer> cli;

    /** A run-to-failure health indicator of 300 cycles: healthy until 140, then an accelerating decline to 0.2. */
    static double[] series(int length) {
        double[] y = new double[length];
        double a = 0.8 / (Math.exp(0.02 * 160) - 1);
        for (int t = 0; t < length; t++) {
            y[t] = 1.0 - a * (Math.exp(0.02 * Math.max(0, t - 140)) - 1) + 0.01 * Math.sin(1.7 * t);
        }
        return y;
    }

    @BeforeAll
    @SuppressWarnings("unchecked")
    void start() throws Exception {
        home = Files.createTempDirectory("arbor-prognostics-it-");
        runtime = new RuntimeHarness(home, null); // copies the declared prognostic models (etc/prognostics)
        Hashtable<String, Object> limits = new Hashtable<>();
        limits.put("max_series_length", 1000);
        limits.put("max_samples", 5000);
        runtime.configure("dev.arbor.prognostics", limits);
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("port", 0);
        uri = runtime.startHttp(config);
        ServiceReference<?> ref = runtime.context().getAllServiceReferences(Function.class.getName(),
                "(arbor.command=cli)")[0];
        cli = (Function<String[], Integer>) runtime.context().getService(ref);
        // the limits above are applied once Config Admin delivered them: wait until a 1001-step series is refused
        Prognostics service = runtime.context().getService(runtime.context()
                .getServiceReference(Prognostics.class));
        RuntimeHarness.await(() -> {
            try {
                service.assess(AssessRequest.of(MODEL, new double[1001][1]));
                return false;
            } catch (dev.arbor.api.ArborException e) {
                return e.getMessage().contains("at most 1000");
            }
        }, 20_000, () -> "the prognostics limits were not applied");
    }

    @AfterAll
    void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
        RuntimeHarness.deleteTree(home);
    }

    private HttpResponse<String> post(String body) throws Exception {
        return http.send(HttpRequest.newBuilder(uri.resolve("/v1/prognostics/assess")).timeout(Duration.ofMinutes(1))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static ObjectNode request(String model, double[] y) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", model);
        ArrayNode series = body.putArray("series");
        for (double v : y) {
            series.addArray().add(v);
        }
        return body;
    }

    @Test
    void theEndpointAnswersPosteriorsViterbiAndRulOnTheShippedModel() throws Exception {
        double[] y = series(300);
        ObjectNode body = request(MODEL, java.util.Arrays.copyOf(y, 250));
        body.put("samples", 2000);
        body.put("horizon", 5);
        body.put("seed", 9);
        HttpResponse<String> response = post(body.toString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonNode a = JSON.readTree(response.body());
        int k = a.get("states").asInt();
        assertThat(a.get("first_step").asInt()).isEqualTo(1);
        assertThat(a.get("viterbi")).hasSize(249);
        assertThat(a.get("filtered")).hasSize(249);
        assertThat(a.get("smoothed").get(0)).hasSize(k);
        assertThat(a.get("current_state").asInt()).isBetween(1, k - 2); // degrading, not failed
        double expected = a.get("rul").get("expected").asDouble();
        assertThat(expected).isBetween(10.0, 150.0); // the truth: 50 cycles left
        assertThat(a.get("rul").get("quantiles").get("p50").asDouble()).isPositive();
        assertThat(a.get("forecast").get("mean")).hasSize(5);
        // the same series, a later cut: less life left
        ObjectNode later = request(MODEL, java.util.Arrays.copyOf(y, 290));
        later.put("samples", 0);
        JsonNode b = JSON.readTree(post(later.toString()).body());
        assertThat(b.get("rul").get("expected").asDouble()).isLessThan(expected);
        assertThat(b.get("rul").has("quantiles")).isFalse();
    }

    /**
     * Latency of one assessment of a 300-step series over HTTP (posteriors, Viterbi, expected RUL and 1,000
     * Monte-Carlo RUL paths), after 20 warm-up requests; printed for BENCHMARKS.md.
     */
    @Test
    void latencyOfA300StepAssessment() throws Exception {
        ObjectNode body = request(MODEL, series(300));
        body.put("samples", 1000);
        String json = body.toString();
        for (int i = 0; i < 20; i++) {
            assertThat(post(json).statusCode()).isEqualTo(200);
        }
        int n = 100;
        long[] nanos = new long[n];
        for (int i = 0; i < n; i++) {
            long start = System.nanoTime();
            HttpResponse<String> r = post(json);
            nanos[i] = System.nanoTime() - start;
            assertThat(r.statusCode()).isEqualTo(200);
        }
        java.util.Arrays.sort(nanos);
        System.out.printf(java.util.Locale.ROOT, "POST /v1/prognostics/assess, 300 steps, %s, 1000 RUL paths: median"
                + " %.2f ms, p90 %.2f ms, min %.2f ms over %d requests%n", MODEL, nanos[n / 2] / 1e6,
                nanos[n * 9 / 10] / 1e6, nanos[0] / 1e6, n);
        body.put("samples", 0);
        String analytic = body.toString();
        for (int i = 0; i < n; i++) {
            long start = System.nanoTime();
            post(analytic);
            nanos[i] = System.nanoTime() - start;
        }
        java.util.Arrays.sort(nanos);
        System.out.printf(java.util.Locale.ROOT, "POST /v1/prognostics/assess, 300 steps, expected RUL only: median"
                + " %.2f ms, p90 %.2f ms%n", nanos[n / 2] / 1e6, nanos[n * 9 / 10] / 1e6);
    }

    @Test
    void hostileRequestsAreRefusedNamingTheProblem() throws Exception {
        HttpResponse<String> unknown = post(request("no-such-model", series(20)).toString());
        assertThat(unknown.statusCode()).isEqualTo(404);
        assertThat(unknown.body()).contains("no-such-model").contains(MODEL);
        assertThat(post(request("../../etc/passwd", series(20)).toString()).statusCode()).isEqualTo(404);

        HttpResponse<String> tooLong = post(request(MODEL, series(1001)).toString());
        assertThat(tooLong.statusCode()).isEqualTo(400);
        assertThat(tooLong.body()).contains("at most 1000");

        String infinite = request(MODEL, series(20)).toString().replaceFirst("\\[\\[[^]]*]", "[[1e400]");
        HttpResponse<String> inf = post(infinite);
        assertThat(inf.statusCode()).as(inf.body()).isEqualTo(400);
        assertThat(inf.body()).contains("finite");

        assertThat(post("{\"model\": \"" + MODEL + "\", \"series\": [[1], [\"x\"]]}").body())
                .contains("'series'[1][0] is not a number");
        ObjectNode many = request(MODEL, series(20));
        many.put("samples", 5001);
        assertThat(post(many.toString()).body()).contains("'samples' must be 0..5000");
        ObjectNode extra = request(MODEL, series(20));
        extra.put("file", "/etc/passwd");
        HttpResponse<String> field = post(extra.toString());
        assertThat(field.statusCode()).isEqualTo(400);
        assertThat(field.body()).contains("unknown field 'file'");
        ObjectNode plaus = request(MODEL, series(3));
        plaus.putArray("plausibilities").addArray().add(1);
        assertThat(post(plaus.toString()).body()).contains("1 rows for a series of 3 steps");
    }

    @Test
    void theCliAssessesTheShippedModelAndFitsANewOneThatIsServedAtOnce() throws Exception {
        double[] y = series(300);
        Path csv = home.resolve("unit.csv");
        StringBuilder text = new StringBuilder("health\n");
        for (int t = 0; t < 260; t++) {
            text.append(y[t]).append('\n');
        }
        Files.writeString(csv, text);
        Path posteriors = home.resolve("posteriors.csv");
        assertThat(cli.apply(new String[] {"prognostics", "assess", "--model", MODEL, "--series", csv.toString(),
            "--samples", "500", "--horizon", "3", "--posteriors", posteriors.toString()})).isZero();
        List<String> lines = Files.readAllLines(posteriors);
        assertThat(lines).hasSize(260); // header + 259 assessed steps
        assertThat(lines.get(0)).startsWith("step,filtered_0").endsWith(",viterbi");
        assertThat(cli.apply(new String[] {"prognostics", "models"})).isZero();
        assertThat(cli.apply(new String[] {"prognostics", "assess", "--model", "nope", "--series", csv.toString()}))
                .isEqualTo(4); // NOT_FOUND
        Path bad = home.resolve("bad.csv");
        Files.writeString(bad, "1.0\nNaN\n0.9\n");
        assertThat(cli.apply(new String[] {"prognostics", "assess", "--model", MODEL, "--series", bad.toString()}))
                .isEqualTo(2); // INVALID_INPUT

        // fit: three runs to failure, declared as etc/prognostics/cli-fleet.json and served by HTTP at once
        String[] fit = {"prognostics", "fit", "--run-to-failure", "--states", "4", "--order", "1", "--restarts", "1",
            "--out", "cli-fleet"};
        List<String> args = new java.util.ArrayList<>(List.of(fit));
        for (int u = 0; u < 3; u++) {
            Path run = home.resolve("run" + u + ".csv");
            StringBuilder r = new StringBuilder();
            double[] s = series(300);
            for (int t = 0; t < 300 - 20 * u; t++) {
                r.append(s[t + 20 * u] + 0.003 * Math.cos(3.1 * t + u)).append('\n');
            }
            Files.writeString(run, r);
            args.add("--series");
            args.add(run.toString());
        }
        assertThat(cli.apply(args.toArray(String[]::new))).isZero();
        assertThat(home.resolve("etc/prognostics/cli-fleet.json")).exists();
        assertThat(cli.apply(args.toArray(String[]::new))).as("no silent overwrite").isEqualTo(2);
        HttpResponse<String> served = post(request("cli-fleet", java.util.Arrays.copyOf(y, 200)).toString());
        assertThat(served.statusCode()).as(served.body()).isEqualTo(200);
        assertThat(JSON.readTree(served.body()).get("states").asInt()).isEqualTo(4);
    }
}
