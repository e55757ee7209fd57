package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Collections;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;

/**
 * The operator tools in a real framework with the admin server switched on (as {@code arbor serve} does): the Felix
 * Web Console on 127.0.0.1 behind the operator's credentials, the admin REST endpoint (listings and a strategy
 * switch that the next request uses), and the Gogo commands of scope {@code arbor}.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OperatorToolsIT {
    private static final String USER = "operator";
    private static final String PASSWORD = "correct horse battery staple";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path home;
    static RuntimeHarness runtime;
    static PipelineService pipelines;
    static int port;
    static HttpClient http;

    @BeforeAll
    static void start() throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        Files.createDirectories(home.resolve("etc"));
        Files.writeString(home.resolve("etc/admin.json"), JSON.writeValueAsString(Map.of("username", USER,
                "password", PASSWORD)));
        try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = free.getLocalPort();
        }
        runtime = new RuntimeHarness(home, models, Map.of("arbor.admin.enabled", "true",
                "arbor.admin.port", Integer.toString(port)));
        pipelines = runtime.pipelines();
        runtime.awaitReady("stories260k");
        http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        RuntimeHarness.await(() -> status(get("/system/console/bundles", USER, PASSWORD)) == 200
                && status(get("/admin/pipelines", USER, PASSWORD)) == 200, 30_000,
                () -> "the admin server did not answer on 127.0.0.1:" + port);
    }

    @AfterAll
    static void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
    }

    @Test
    @Order(1)
    void theWebConsoleAnswersWithCredentialsAndRefusesWithoutOrWithWrongOnes() throws Exception {
        HttpResponse<String> ok = get("/system/console/bundles", USER, PASSWORD);
        assertThat(ok.statusCode()).isEqualTo(200);
        assertThat(ok.headers().firstValue("Content-Type").orElse("")).startsWith("text/html");
        HttpResponse<String> json = get("/system/console/bundles.json", USER, PASSWORD);
        assertThat(json.statusCode()).isEqualTo(200);
        assertThat(json.body()).contains("dev.arbor.platform.admin").contains("org.apache.felix.webconsole");

        HttpResponse<String> none = get("/system/console/bundles", null, null);
        assertThat(none.statusCode()).isEqualTo(401);
        assertThat(none.headers().firstValue("WWW-Authenticate").orElse("")).startsWith("Basic realm=");
        assertThat(get("/system/console/bundles", USER, "wrong").statusCode()).isEqualTo(401);
        assertThat(get("/system/console/bundles", "admin", "admin").statusCode())
                .as("the console's built-in default account is not accepted").isEqualTo(401);
    }

    @Test
    @Order(2)
    void theAdminServerListensOnLoopbackOnly() throws Exception {
        Optional<InetAddress> external = Collections.list(NetworkInterface.getNetworkInterfaces()).stream()
                .flatMap(i -> Collections.list(i.getInetAddresses()).stream())
                .filter(a -> a instanceof Inet4Address && !a.isLoopbackAddress() && !a.isLinkLocalAddress())
                .findFirst();
        if (external.isPresent()) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress(external.get(), port), 2_000);
                throw new AssertionError("the admin port " + port + " accepted a connection on " + external.get());
            } catch (java.io.IOException refused) {
                // expected: bound to 127.0.0.1 only
            }
        }
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 2_000);
        }
    }

    @Test
    @Order(3)
    void adminRestListsBundlesWithTheirPartsAndPipelinesWithTheirState() throws Exception {
        assertThat(get("/admin/bundles", null, null).statusCode()).isEqualTo(401);
        assertThat(get("/admin/bundles", USER, "wrong").statusCode()).isEqualTo(401);

        HttpResponse<String> bundles = get("/admin/bundles", USER, PASSWORD);
        assertThat(bundles.statusCode()).isEqualTo(200);
        JsonNode sampling = find(JSON.readTree(bundles.body()), "symbolicName", "dev.arbor.sampling");
        assertThat(sampling.path("state").asText()).isEqualTo("active");
        assertThat(sampling.path("version").asText()).startsWith("0.1.0");
        assertThat(sampling.path("id").asLong()).isPositive();
        assertThat(sampling.path("parts").toString()).contains("{\"kind\":\"token selector\",\"name\":\"sample\"");

        HttpResponse<String> list = get("/admin/pipelines", USER, PASSWORD);
        assertThat(list.statusCode()).isEqualTo(200);
        JsonNode stories = find(JSON.readTree(list.body()), "name", "stories260k");
        assertThat(stories.path("ready").asBoolean()).isTrue();
        assertThat(stories.path("status").asText()).isEqualTo("ready");
        assertThat(stories.path("missing")).isEmpty();
        assertThat(stories.path("generator").asText()).isEqualTo("autoregressive");
        assertThat(stories.path("processors").toString()).contains("top-p");
    }

    @Test
    @Order(4)
    void aStrategySwitchThroughRestIsUsedByTheNextRequestAndBadRequestsAreRefused() throws Exception {
        assertError(put("/admin/pipelines/stories260k/strategy", "{not json"), 400, "not valid JSON");
        assertError(put("/admin/pipelines/stories260k/strategy", "[1]"), 400, "must be a JSON object");
        assertError(put("/admin/pipelines/stories260k/strategy", "{\"options\": {}}"), 400, "'generator'");
        assertError(put("/admin/pipelines/stories260k/strategy", "{\"generator\": \"beam-search\", \"options\": 3}"),
                400, "'options' must be a JSON object");
        assertError(put("/admin/pipelines/stories260k/strategy", "{\"generator\": \"beam-serch\"}"), 400,
                "no generator 'beam-serch' is installed; installed generators: autoregressive, beam-search");
        assertError(put("/admin/pipelines/nope/strategy", "{\"generator\": \"beam-search\"}"), 404,
                "unknown pipeline 'nope'");
        assertThat(generatorOfNextRequest()).isEqualTo("autoregressive");

        HttpResponse<String> switched = put("/admin/pipelines/stories260k/strategy",
                "{\"generator\": \"beam-search\", \"options\": {\"num_beams\": 2}}");
        assertThat(switched.statusCode()).as(switched.body()).isEqualTo(200);
        JsonNode body = JSON.readTree(switched.body());
        assertThat(body.path("generator").asText()).isEqualTo("beam-search");
        assertThat(body.path("generator_options").path("num_beams").asInt()).isEqualTo(2);
        assertThat(generatorOfNextRequest()).isEqualTo("beam-search");
        assertThat(find(JSON.readTree(get("/admin/pipelines", USER, PASSWORD).body()), "name", "stories260k")
                .path("generator").asText()).isEqualTo("beam-search");
    }

    @Test
    @Order(5)
    void gogoCommandsListPipelinesAndBundlesAndSwitchTheStrategy() throws Exception {
        String listing = gogo("arbor:pipelines");
        assertThat(listing).contains("stories260k").contains("ready").contains("generator beam-search");

        String bundles = gogo("arbor:bundles");
        assertThat(bundles).contains("dev.arbor.platform.admin").contains("provides token selector 'sample'")
                .contains("provides generator 'beam-search'");

        String switched = gogo("arbor:strategy stories260k autoregressive");
        assertThat(switched).contains("pipeline stories260k now uses generator autoregressive");
        assertThat(generatorOfNextRequest()).isEqualTo("autoregressive");
        assertThat(gogo("arbor:strategy stories260k beam-search num_beams=3")).contains("{num_beams=3}");
        assertThat(pipelines.status("stories260k").orElseThrow().definition().generator().options()
                .integer("num_beams", 0, 0, 10)).isEqualTo(3);
        assertThat(generatorOfNextRequest()).isEqualTo("beam-search");
    }

    @Test
    @Order(6)
    void aBundleInstalledFromGogoObeysTheTrustPolicy() throws Exception {
        java.util.jar.Manifest m = new java.util.jar.Manifest();
        m.getMainAttributes().put(java.util.jar.Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().putValue("Bundle-ManifestVersion", "2");
        m.getMainAttributes().putValue("Bundle-SymbolicName", "dev.arbor.test.gogo.untrusted");
        Path jar = home.resolve("gogo-untrusted.jar");
        try (var out = new java.util.jar.JarOutputStream(Files.newOutputStream(jar), m)) {
            out.flush();
        }
        gogo("felix:install " + jar.toUri());
        org.osgi.framework.Bundle installed = runtime.bundle("dev.arbor.test.gogo.untrusted");
        org.assertj.core.api.Assertions.assertThatThrownBy(installed::start)
                .isInstanceOf(org.osgi.framework.BundleException.class);
        assertThat(installed.getState()).isEqualTo(org.osgi.framework.Bundle.INSTALLED);

        runtime.trust(jar); // the same bytes, once listed, may start
        installed.start();
        assertThat(installed.getState()).isEqualTo(org.osgi.framework.Bundle.ACTIVE);
    }

    @Test
    @Order(7)
    void adminBundlesSaysWhyABundleDoesNotResolveAndListsRefusedFiles() throws Exception {
        Path built = Path.of(System.getProperty("arbor.testBundles", "target/test-bundles"), "runner-up-selector.jar");
        Path deploy = Files.createDirectories(runtime.home.resolve("deploy"));
        Files.copy(built, deploy.resolve(".untrusted.tmp"));
        Files.move(deploy.resolve(".untrusted.tmp"), deploy.resolve("untrusted.jar"),
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        Path wrong = home.resolve("wrong-api.jar");
        TestJars.withImportRange(built, "dev.arbor.api.sampling", "[2.0,3)", wrong);
        runtime.trust(wrong);
        Files.copy(wrong, deploy.resolve(".wrong.tmp"));
        Files.move(deploy.resolve(".wrong.tmp"), deploy.resolve("wrong-api.jar"),
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);

        RuntimeHarness.await(() -> bundlesBody().contains("\"refused\"") && bundlesBody().contains("does not resolve"),
                15_000, () -> "no refused file or unresolved bundle in /admin/bundles: " + bundlesBody());
        JsonNode rows = JSON.readTree(bundlesBody());
        JsonNode refused = find(rows, "file", "untrusted.jar");
        assertThat(refused.path("state").asText()).isEqualTo("refused");
        assertThat(refused.path("reason").asText()).contains("is not trusted").contains("add ");
        JsonNode unresolved = find(rows, "symbolicName", "dev.arbor.test.runnerup");
        assertThat(unresolved.path("state").asText()).isEqualTo("installed");
        assertThat(unresolved.path("reason").asText()).startsWith("deploy/wrong-api.jar (dev.arbor.test.runnerup ")
                .contains("it imports dev.arbor.api.sampling [2.0.0,3.0.0) but this installation exports 1.");
        assertThat(find(rows, "symbolicName", "dev.arbor.sampling").has("reason")).isFalse();
        assertThat(gogo("arbor:bundles")).contains("does not resolve").contains("refused").contains("untrusted.jar");
    }

    @Test
    @Order(8)
    void adminVersionAndGogoListEveryPackageTheApiBundleExports() throws Exception {
        Map<String, String> exported = ArborVersionIT.apiExports();
        assertThat(exported).containsKeys("dev.arbor.api", "dev.arbor.api.sampling", "dev.arbor.backend.support");
        assertThat(get("/admin/version", null, null).statusCode()).isEqualTo(401);

        HttpResponse<String> version = get("/admin/version", USER, PASSWORD);
        assertThat(version.statusCode()).as(version.body()).isEqualTo(200);
        JsonNode body = JSON.readTree(version.body());
        assertThat(body.path("arbor").asText()).startsWith("0.1.0");
        Map<String, String> listed = new java.util.LinkedHashMap<>();
        body.path("api").forEach(p -> listed.put(p.path("name").asText(), p.path("version").asText()));
        assertThat(listed).containsExactlyInAnyOrderEntriesOf(exported);
        assertThat(body.path("api").size()).as("one row per package").isEqualTo(exported.size());

        String console = gogo("arbor:version");
        assertThat(console).startsWith("Arbor 0.1.0").contains("API packages:");
        exported.forEach((name, v) -> assertThat(console).containsPattern("(?m)^  " + java.util.regex.Pattern.quote(
                name) + " +" + java.util.regex.Pattern.quote(v) + " "));
    }

    private static String bundlesBody() {
        HttpResponse<String> r = get("/admin/bundles", USER, PASSWORD);
        return r == null ? "" : r.body();
    }

    private static String generatorOfNextRequest() {
        Completion c = pipelines.complete(CompletionRequest.text("stories260k", "Once",
                Options.of(Map.of("temperature", 0, "max_tokens", 4))), TextSink.DISCARD);
        return String.valueOf(c.stats().get("generator"));
    }

    /**
     * Runs a command through Gogo's CommandProcessor and returns what it printed. Gogo's classes live in the
     * framework, not on the test class path, so they are called reflectively through their public interfaces.
     */
    private static String gogo(String command) throws Exception {
        BundleContext ctx = runtime.context();
        // getAll...: the test class path holds another copy of Gogo's classes, so the class-space filter of
        // getServiceReference would hide the framework's processor from the system bundle
        ServiceReference<?>[] refs = ctx.getAllServiceReferences("org.apache.felix.service.command.CommandProcessor",
                null);
        assertThat(refs).as("Gogo's CommandProcessor").isNotEmpty();
        ServiceReference<?> ref = refs[0];
        Class<?> processorType = ref.getBundle().loadClass("org.apache.felix.service.command.CommandProcessor");
        Class<?> sessionType = ref.getBundle().loadClass("org.apache.felix.service.command.CommandSession");
        Object processor = ctx.getService(ref);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Method create = processorType.getMethod("createSession", InputStream.class, OutputStream.class,
                OutputStream.class);
        Object session = create.invoke(processor, new ByteArrayInputStream(new byte[0]), out, out);
        try {
            sessionType.getMethod("execute", CharSequence.class).invoke(session, command);
        } catch (InvocationTargetException e) {
            throw new AssertionError("'" + command + "' failed: " + e.getCause() + "; output: " + out, e.getCause());
        } finally {
            sessionType.getMethod("close").invoke(session);
            ctx.ungetService(ref);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static JsonNode find(JsonNode array, String field, String value) {
        for (JsonNode n : array) {
            if (value.equals(n.path(field).asText())) {
                return n;
            }
        }
        throw new AssertionError("no element with " + field + "=" + value + " in " + array);
    }

    private static void assertError(HttpResponse<String> response, int status, String message) throws Exception {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(status);
        assertThat(JSON.readTree(response.body()).path("error").path("message").asText()).contains(message);
    }

    private static int status(HttpResponse<String> response) {
        return response == null ? -1 : response.statusCode();
    }

    private static HttpResponse<String> get(String path, String user, String password) {
        return send(HttpRequest.newBuilder(uri(path)).GET(), user, password);
    }

    private static HttpResponse<String> put(String path, String body) {
        return send(HttpRequest.newBuilder(uri(path)).header("Content-Type", "application/json")
                .PUT(HttpRequest.BodyPublishers.ofString(body)), USER, PASSWORD);
    }

    private static URI uri(String path) {
        return URI.create("http://127.0.0.1:" + port + path);
    }

    private static HttpResponse<String> send(HttpRequest.Builder request, String user, String password) {
        if (user != null) {
            request.header("Authorization", "Basic " + Base64.getEncoder().encodeToString(
                    (user + ":" + password).getBytes(StandardCharsets.UTF_8)));
        }
        try {
            return http.send(request.timeout(Duration.ofSeconds(20)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            return null; // not listening yet
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
