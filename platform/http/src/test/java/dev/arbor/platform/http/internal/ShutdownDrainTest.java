package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
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

/** A draining server: queued and new requests get 503 with Retry-After, the running one finishes. */
class ShutdownDrainTest {
    private static final String KEY = "sesame";
    private final FakePipelines pipelines = new FakePipelines();
    private final HttpClient client = HttpClient.newHttpClient();
    private Server server;
    private Workers workers;
    private OpenAiHandler handler;
    private URI base;

    @BeforeEach
    void start() throws Exception {
        ServerSettings settings = ServerSettings.from(Map.of("port", 0, "api_key", KEY, "workers", 1,
                "request_timeout_ms", 20_000));
        ServerMetrics metrics = new ServerMetrics(MetricLabels.of(Set.of("echo", "slow"), Set.of()));
        workers = new Workers(settings.workers(), getClass().getClassLoader(), metrics::abandoned);
        server = new Server();
        ServerConnector connector = HttpServerComponent.connector(server, settings);
        server.addConnector(connector);
        handler = new OpenAiHandler(pipelines, settings, metrics, workers);
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

    private CompletableFuture<HttpResponse<String>> post(String pipeline) {
        return client.sendAsync(HttpRequest.newBuilder(base.resolve("/v1/completions"))
                .header("Authorization", "Bearer " + KEY)
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"" + pipeline + "\", \"prompt\": \"a\"}"))
                .build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void refusesQueuedAndNewRequestsWith503AndLetsTheRunningOneFinish() throws Exception {
        CompletableFuture<HttpResponse<String>> running = post("slow");
        assertThat(pipelines.slowStarted.await(10, TimeUnit.SECONDS)).isTrue();
        List<CompletableFuture<HttpResponse<String>>> queued = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            queued.add(post("echo"));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (workers.waiting() < queued.size() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(workers.waiting()).as("requests waiting for the one worker").isEqualTo(queued.size());

        CompletableFuture<Boolean> drained = CompletableFuture.supplyAsync(() -> {
            try {
                return handler.drain(10_000);
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        for (CompletableFuture<HttpResponse<String>> q : queued) {
            expectStopping(q.get(10, TimeUnit.SECONDS));
        }
        expectStopping(post("echo").get(10, TimeUnit.SECONDS));
        assertThat(drained).as("the running request holds the drain").isNotDone();

        pipelines.release.countDown();
        assertThat(running.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        assertThat(drained.get(10, TimeUnit.SECONDS)).isTrue();
    }

    private static void expectStopping(HttpResponse<String> r) {
        assertThat(r.statusCode()).isEqualTo(503);
        assertThat(r.headers().firstValue("Retry-After")).hasValue(Integer.toString(ApiError.STOPPING_RETRY_SECONDS));
        assertThat(r.body()).contains("server_stopping");
    }
}
