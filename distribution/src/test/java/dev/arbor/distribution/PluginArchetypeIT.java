package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;

/**
 * The plugin archetype as a plugin author meets it, offline: {@code mvn -o archetype:generate} from the installed
 * archetype, {@code mvn -o verify} of the generated project (its unit tests on the test kit's toy models and its own
 * test in a real framework), against the local repository this build uses. Then the jar it built is deployed into
 * this installation as README "Writing a plugin" says (its SHA-256 in {@code etc/trust/trusted-bundles.sha256}, the
 * file in {@code deploy/}) and served over HTTP on the installation's own model: a pipeline file naming the
 * plugin's generator and processor, and a request choosing them with its own options.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PluginArchetypeIT {
    private static final String KEY = "plugin-archetype-it";
    private static final String PACKAGE = "org.example.arbor.ci";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path home;
    static Path work;
    static Path project;
    static Path jar;
    static RuntimeHarness runtime;
    static PipelineService pipelines;
    static URI uri;
    static HttpClient http;

    @BeforeAll
    static void generateAndBuildThePlugin() throws Exception {
        work = Path.of("target/plugin-archetype-it").toAbsolutePath();
        RuntimeHarness.deleteTree(work);
        Files.createDirectories(work);
        maven(work, "generate", List.of(
                "org.apache.maven.plugins:maven-archetype-plugin:" + property("arbor.archetypePluginVersion")
                        + ":generate",
                "-DarchetypeGroupId=dev.arbor", "-DarchetypeArtifactId=arbor-plugin-archetype",
                "-DarchetypeVersion=" + property("arbor.version"),
                "-DgroupId=org.example.arbor", "-DartifactId=ci-plugin", "-Dversion=1.0.0",
                "-Dpackage=" + PACKAGE));
        project = work.resolve("ci-plugin");
        maven(project, "verify", List.of("verify"));
        jar = project.resolve("target/ci-plugin-1.0.0.jar");
        assertThat(jar).exists();
    }

    @AfterAll
    static void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
    }

    @Test
    @Order(1)
    void theGeneratedProjectRanItsUnitTestsAndItsInFrameworkTest() throws IOException {
        // verify passing is the proof; this only says that the tests did run rather than being skipped
        assertThat(reports(project.resolve("target/surefire-reports")))
                .contains("TEST-" + PACKAGE + ".BestOfKGeneratorTest.xml",
                        "TEST-" + PACKAGE + ".NoRepeatNGramProcessorTest.xml");
        assertThat(reports(project.resolve("target/failsafe-reports")))
                .contains("TEST-" + PACKAGE + ".PluginInFrameworkIT.xml");
    }

    @Test
    @Order(2)
    void theBuiltJarDeploysIntoTheInstallationAndItsPartsServePerPipelineAndPerRequest() throws Exception {
        startTheInstallation();
        runtime.trust(jar); // etc/trust/trusted-bundles.sha256 gets "<sha256>  ci-plugin-1.0.0.jar"
        Files.copy(jar, home.resolve("deploy").resolve(jar.getFileName()));
        runtime.awaitReady("ci-plugin");
        runtime.awaitReady("ci-requests");
        Bundle plugin = runtime.bundle(PACKAGE);
        assertThat(plugin.getState()).isEqualTo(Bundle.ACTIVE);

        // per pipeline: etc/pipelines/ci-plugin.json names best-of-k (best_of 3) and no-repeat-ngram (size 3)
        JsonNode answer = complete("{'model': 'ci-plugin', 'prompt': 'Once upon a time', 'max_tokens': 24,"
                + " 'seed': 7}", 200);
        assertThat(answer.at("/choices/0/text").asText()).isNotEmpty();
        assertThat(answer.at("/usage/arbor/generator").asText()).isEqualTo("best-of-k");
        assertThat(answer.at("/usage/arbor/stats/best_of").asInt()).isEqualTo(3);
        Completion typed = pipelines.complete(CompletionRequest.text("ci-plugin", "Once upon a time",
                Options.of(Map.of("max_tokens", 24, "seed", 7L))), TextSink.DISCARD);
        assertThat(typed.text()).isEqualTo(answer.at("/choices/0/text").asText());
        assertThat(repeated(typed, 3)).as("trigrams of the answer seen before").isEmpty();

        // per request: pipeline ci-requests runs Arbor's own loop and chain; its overrides let a request choose
        String greedy = "'model': 'ci-requests', 'prompt': 'Once upon a time', 'max_tokens': 32, 'temperature': 0";
        JsonNode own = complete("{" + greedy + "}", 200);
        assertThat(own.at("/usage/arbor/generator").asText()).isEqualTo("autoregressive");
        JsonNode chosen = complete("{" + greedy + ", 'arbor': {'generator': {'name': 'best-of-k', 'options':"
                + " {'best_of': 2}}, 'processors': [{'name': 'no-repeat-ngram', 'options':"
                + " {'no_repeat_ngram_size': 1}}]}}", 200);
        assertThat(chosen.at("/usage/arbor/generator").asText()).isEqualTo("best-of-k");
        assertThat(chosen.at("/usage/arbor/stats/best_of").asInt()).isEqualTo(2);
        assertThat(chosen.at("/choices/0/text").asText()).as("greedy text with every token at most once")
                .isNotEqualTo(own.at("/choices/0/text").asText());
        Completion unique = pipelines.complete(new CompletionRequest("ci-requests", "Once upon a time", null,
                List.of(), new PartRef("best-of-k", Options.of(Map.of("best_of", 2))),
                List.of(new PartRef("no-repeat-ngram", Options.of(Map.of("no_repeat_ngram_size", 1)))),
                Options.of(Map.of("max_tokens", 32, "temperature", 0))), TextSink.DISCARD);
        assertThat(unique.text()).isEqualTo(chosen.at("/choices/0/text").asText());
        assertThat(repeated(unique, 1)).as("tokens of the answer seen before").isEmpty();

        // a value the plugin refuses: 400, the message naming the part that refused it
        JsonNode refused = complete("{" + greedy + ", 'arbor': {'processors': [{'name': 'no-repeat-ngram',"
                + " 'options': {'no_repeat_ngram_size': 99}}]}}", 400);
        assertThat(refused.at("/error/message").asText()).startsWith("logits processor 'no-repeat-ngram': option"
                + " 'no_repeat_ngram_size' must be between 0 and 64, got 99");
    }

    private static void startTheInstallation() throws Exception {
        Path dist = Path.of(property("arbor.dist")).toAbsolutePath();
        Path model = dist.resolve("models/arbor-tiny-ar");
        Files.createDirectories(home.resolve("etc/pipelines"));
        String modelRef = "'model': {'backend': 'onnxruntime', 'format': 'llama2c', 'path': '"
                + model.resolve("arbor-tiny-ar.bin") + "'}, 'tokenizer': {'format': 'llama2c', 'path': '"
                + model.resolve("tokenizer.bin") + "'}, 'selector': 'sample'";
        Files.writeString(home.resolve("etc/pipelines/ci-plugin.json"), json("{'name': 'ci-plugin', " + modelRef
                + ", 'generator': {'name': 'best-of-k', 'options': {'best_of': 3}},"
                + " 'processors': ['temperature', {'name': 'no-repeat-ngram', 'options': {'no_repeat_ngram_size': 3}}],"
                + " 'defaults': {'max_tokens': 24, 'temperature': 0.8}}"));
        Files.writeString(home.resolve("etc/pipelines/ci-requests.json"), json("{'name': 'ci-requests', " + modelRef
                + ", 'generator': 'autoregressive', 'processors': ['temperature', 'top-p'],"
                + " 'defaults': {'max_tokens': 24, 'temperature': 0.8, 'top_p': 0.9},"
                + " 'overrides': {'generators': ['best-of-k'], 'processors': ['no-repeat-ngram']}}"));
        runtime = new RuntimeHarness(home, null);
        pipelines = runtime.pipelines();
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("port", 0);
        config.put("api_key", KEY);
        uri = runtime.startHttp(config);
        http = HttpClient.newHttpClient();
    }

    private static JsonNode complete(String body, int status) throws Exception {
        HttpResponse<String> response = http.send(HttpRequest.newBuilder(uri.resolve("/v1/completions"))
                .timeout(Duration.ofSeconds(120)).header("Content-Type", "application/json")
                .header("Authorization", "Bearer " + KEY).POST(HttpRequest.BodyPublishers.ofString(json(body)))
                .build(), HttpResponse.BodyHandlers.ofString());
        assertThat(response.statusCode()).as(response.body()).isEqualTo(status);
        return JSON.readTree(response.body());
    }

    /** The n-grams ending in the answer that occurred earlier in prompt + answer. */
    private static List<List<Integer>> repeated(Completion c, int n) {
        int[] all = new int[c.promptTokens().length + c.tokens().length];
        System.arraycopy(c.promptTokens(), 0, all, 0, c.promptTokens().length);
        System.arraycopy(c.tokens(), 0, all, c.promptTokens().length, c.tokens().length);
        Set<List<Integer>> seen = new HashSet<>();
        List<List<Integer>> out = new ArrayList<>();
        for (int end = n; end <= all.length; end++) {
            List<Integer> gram = new ArrayList<>();
            for (int j = end - n; j < end; j++) {
                gram.add(all[j]);
            }
            if (!seen.add(gram) && end > c.promptTokens().length) {
                out.add(gram);
            }
        }
        return out;
    }

    /**
     * Runs this build's Maven offline in {@code dir} against this build's local repository, its output in
     * {@code <name>.log}; fails with the log's tail when it fails.
     */
    private static void maven(Path dir, String name, List<String> goals) throws Exception {
        Path mvn = Path.of(property("arbor.mavenHome"), "bin", "mvn");
        List<String> command = new ArrayList<>(List.of(mvn.toString(), "-B", "-o", "-ntp",
                "-Dmaven.repo.local=" + property("arbor.localRepository")));
        command.addAll(goals);
        Path log = work.resolve(name + ".log");
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        if (!p.waitFor(8, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("mvn " + goals + " did not finish within 8 minutes; see " + log);
        }
        if (p.exitValue() != 0) {
            List<String> lines = Files.readAllLines(log);
            throw new AssertionError("mvn " + String.join(" ", goals) + " failed (exit " + p.exitValue() + ") in "
                    + dir + "; last lines of " + log + ":\n"
                    + String.join("\n", lines.subList(Math.max(0, lines.size() - 80), lines.size())));
        }
    }

    private static List<String> reports(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            return files.map(f -> f.getFileName().toString()).toList();
        }
    }

    private static String property(String name) {
        String value = System.getProperty(name);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException("system property " + name + " is not set (distribution/pom.xml's"
                    + " Failsafe configuration sets it)");
        }
        return value;
    }

    private static String json(String singleQuoted) {
        return singleQuoted.replace('\'', '"');
    }
}
