package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two Arbor runtimes on loopback: a separate {@code bin/arbor serve --expose-models --grpc-port N} process serves its
 * declared models forward by forward over the Open Inference Protocol (gRPC), and a framework in this JVM runs
 * pipelines whose model is {@code remote} at {@code grpc://127.0.0.1:N/MODEL}. Greedy output must equal the local
 * backend's token for token, with the plain loop and with strategies that roll the server's state back; a strategy
 * needing what the served model lacks is refused naming it; a server killed mid-request gives a clean error while
 * the client runtime keeps serving.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RemoteBackendIT {
    private static final String PROMPT = "Once upon a time, there was a little girl named Lily. She liked to play";
    private static final java.util.regex.Pattern SERVING = java.util.regex.Pattern.compile("Arbor serving http://");

    @TempDir
    static Path temp;
    private static Process server;
    private static Path serverLog;
    private static int grpcPort;
    private static RuntimeHarness client;
    private static PipelineService pipelines;

    @BeforeAll
    static void start() throws Exception {
        Path dist = Path.of(System.getProperty("arbor.dist", "target/arbor")).toAbsolutePath();
        // the serving installation: the distribution's bundles, models and etc/, plus a model the operator declares
        // on the fused graph (which offers neither full nor segment attention)
        Path serverHome = Files.createDirectories(temp.resolve("server"));
        for (String shared : new String[] {"bundles", "models", "lib"}) {
            if (Files.exists(dist.resolve(shared))) {
                Files.createSymbolicLink(serverHome.resolve(shared), dist.resolve(shared));
            }
        }
        copyTree(dist.resolve("etc"), serverHome.resolve("etc"));
        Files.writeString(serverHome.resolve("etc/models/arbor-tiny-fused.json"), """
                {"backend": "onnxruntime", "format": "llama2c",
                 "path": "${arbor.home}/models/arbor-tiny-ar/arbor-tiny-ar.bin",
                 "options": {"device": "cpu", "graph": "fused", "precision": "fp32"}}
                """);
        try (ServerSocket free = new ServerSocket(0)) {
            grpcPort = free.getLocalPort();
        }
        serverLog = temp.resolve("server.log");
        ProcessBuilder pb = new ProcessBuilder(dist.resolve("bin/arbor").toString(), "--home", serverHome.toString(),
                "serve", "--port", "0", "--no-admin", "--expose-models", "--grpc-port", Integer.toString(grpcPort));
        pb.environment().remove("ARBOR_API_KEY");
        pb.redirectError(serverLog.toFile());
        server = pb.start();
        CompletableFuture<Boolean> banner = CompletableFuture.supplyAsync(() -> {
            try {
                BufferedReader out = new BufferedReader(new InputStreamReader(server.getInputStream(),
                        StandardCharsets.UTF_8));
                for (String l; (l = out.readLine()) != null; ) {
                    if (SERVING.matcher(l).find()) {
                        return true;
                    }
                }
                return false;
            } catch (IOException e) {
                return false;
            }
        });
        assertThat(banner.get(120, TimeUnit.SECONDS)).as("the server announced itself; its log:\n%s", log())
                .isTrue();

        // the client installation: the distribution's pipelines plus remote ones (an operator's files)
        Path clientHome = Files.createDirectories(temp.resolve("client"));
        Files.createSymbolicLink(clientHome.resolve("models"), dist.resolve("models")); // ${arbor.home}/models
        client = new RuntimeHarness(clientHome, null);
        pipelines = client.pipelines();
        String url = "grpc://127.0.0.1:" + grpcPort;
        pipeline(clientHome, "remote-tiny", url + "/arbor-tiny-ar", "autoregressive");
        pipeline(clientHome, "remote-fused", url + "/arbor-tiny-fused", "autoregressive");
        client.awaitReady("arbor-tiny");
        client.awaitReady("remote-tiny");
        client.awaitReady("remote-fused");
    }

    /** A pipeline file like arbor-tiny's whose model is served at {@code url}. */
    private static void pipeline(Path home, String name, String url, String generator) throws IOException {
        Files.writeString(home.resolve("etc/pipelines/" + name + ".json"), """
                {"name": "%s",
                 "model": {"backend": "remote", "url": "%s", "options": {"forward_timeout_ms": 20000}},
                 "tokenizer": {"format": "llama2c", "path": "${arbor.home}/models/arbor-tiny-ar/tokenizer.bin"},
                 "generator": "%s",
                 "processors": ["temperature", "top-k", "top-p"], "selector": "sample",
                 "defaults": {"max_tokens": 60},
                 "overrides": {"generators": ["autoregressive", "prompt-lookup", "speculative", "masked-diffusion"]}}
                """.formatted(name, url, generator));
    }

    @AfterAll
    static void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (server != null && server.isAlive()) {
            server.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    private static Completion greedy(String pipeline, String generator, Map<String, Object> extra) {
        Map<String, Object> options = new HashMap<>(Map.of("temperature", 0.0, "max_tokens", 60, "seed", 1));
        options.putAll(extra);
        return pipelines.complete(new CompletionRequest(pipeline, PROMPT, null, java.util.List.of(),
                dev.arbor.api.pipeline.PartRef.of(generator), null, Options.of(options)), TextSink.DISCARD);
    }

    @Test
    @Order(1)
    void greedyAutoregressiveIsTheLocalBackendsTokenForToken() {
        Completion local = greedy("arbor-tiny", "autoregressive", Map.of());
        Completion remote = greedy("remote-tiny", "autoregressive", Map.of());
        assertThat(local.tokens()).hasSizeGreaterThan(20);
        assertThat(remote.tokens()).containsExactly(local.tokens());
        assertThat(remote.text()).isEqualTo(local.text());
        assertThat(greedy("remote-fused", "autoregressive", Map.of()).tokens()).as("the fused graph, served")
                .containsExactly(local.tokens());
    }

    @Test
    @Order(2)
    void strategiesThatRollTheServersStateBackStayGreedyExact() {
        Completion local = greedy("arbor-tiny", "autoregressive", Map.of());
        Completion lookup = greedy("remote-tiny", "prompt-lookup", Map.of("lookahead", 4));
        assertThat(lookup.tokens()).containsExactly(local.tokens());
        // the draft runs here (the registry's arbor-tiny-draft, local), the target there
        Completion speculative = greedy("remote-tiny", "speculative", Map.of("draft", "arbor-tiny-draft",
                "lookahead", 4));
        assertThat(speculative.tokens()).containsExactly(local.tokens());
        assertThat(speculative.stats()).containsKey("forward_passes");
    }

    @Test
    @Order(3)
    void aStrategyNeedingWhatTheServedModelLacksIsRefusedNamingIt() {
        assertThatThrownBy(() -> greedy("remote-fused", "masked-diffusion", Map.of()))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("FULL_ATTENTION")
                .hasMessageContaining("model backend 'remote'")
                .hasMessageContaining("for grpc://127.0.0.1:" + grpcPort + "/arbor-tiny-fused");
    }

    @Test
    @Order(4)
    void aServerKilledMidRequestGivesACleanErrorAndTheClientKeepsServing() throws Exception {
        CountDownLatch streaming = new CountDownLatch(1);
        CompletableFuture<Completion> running = CompletableFuture.supplyAsync(() -> pipelines.complete(
                CompletionRequest.text("remote-tiny", PROMPT, Options.of(Map.of("temperature", 0.0,
                        "max_tokens", 4000, "ignore_eos", true))), (delta, token) -> {
                    streaming.countDown();
                    return true;
                }));
        assertThat(streaming.await(60, TimeUnit.SECONDS)).as("the remote generation streams").isTrue();
        server.destroyForcibly();
        assertThat(server.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThatThrownBy(() -> running.get(60, TimeUnit.SECONDS)).cause().isInstanceOf(ArborException.class)
                .hasMessageContaining("the remote model at grpc://127.0.0.1:" + grpcPort + "/arbor-tiny-ar is"
                        + " unreachable");
        // the client runtime is up: local pipelines serve, and the remote one says clearly what is wrong
        assertThat(greedy("arbor-tiny", "autoregressive", Map.of()).tokens()).isNotEmpty();
        assertThatThrownBy(() -> greedy("remote-tiny", "autoregressive", Map.of()))
                .isInstanceOf(ArborException.class).hasMessageContaining("grpc://127.0.0.1:" + grpcPort);
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (var walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }

    private static String log() {
        try {
            return Files.readString(serverLog);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }
}
