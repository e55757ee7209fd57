package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
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
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A plugin or model that fails a request is logged once, at WARNING, with the request id, the part and bundle the
 * message names, and the stack trace of the cause; the client's 500 carries the message only.
 */
class ServerFaultLogTest {
    private static final Logger HTTP_LOG = Logger.getLogger("dev.arbor.http");
    private static final List<LogRecord> RECORDS = new CopyOnWriteArrayList<>();
    private static final Handler CAPTURE = new Handler() {
        @Override
        public void publish(LogRecord r) {
            RECORDS.add(r);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    private static Server server;
    private static Workers workers;
    private static URI base;

    /** "plugin" fails as the runtime reports a throwing processor; "bug" throws an unexpected exception. */
    private static final PipelineService FAKE = new PipelineService() {
        @Override
        public List<PipelineStatus> pipelines() {
            return List.of(status("plugin").orElseThrow(), status("bug").orElseThrow());
        }

        @Override
        public Optional<PipelineStatus> status(String name) {
            return Optional.of(new PipelineStatus(name, true, List.of(), null));
        }

        @Override
        public Completion complete(CompletionRequest request, TextSink sink) {
            IllegalStateException inPlugin = new IllegalStateException("fails on purpose");
            if (request.pipeline().equals("plugin")) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE,
                        "logits processor 'throwing' (bundle dev.arbor.test.failing 1.0.0) failed: " + inPlugin,
                        inPlugin);
            }
            throw inPlugin;
        }

        @Override
        public int[] tokenize(String pipeline, String text) {
            return new int[text.length()];
        }

        @Override
        public PostProcessor.Output analyze(String pipeline, String text, Options options) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void define(PipelineDefinition definition) {
            throw new UnsupportedOperationException();
        }
    };

    @BeforeAll
    static void start() throws Exception {
        ServerSettings settings = ServerSettings.from(Map.of("port", 0, "workers", 2));
        ServerMetrics metrics = new ServerMetrics(MetricLabels.of(java.util.Set.of(), java.util.Set.of()));
        workers = new Workers(settings.workers(), ServerFaultLogTest.class.getClassLoader(), metrics::abandoned);
        server = new Server();
        ServerConnector connector = HttpServerComponent.connector(server, settings);
        server.addConnector(connector);
        server.setHandler(new OpenAiHandler(FAKE, settings, metrics, workers));
        server.start();
        base = URI.create("http://127.0.0.1:" + connector.getLocalPort());
        HTTP_LOG.addHandler(CAPTURE);
    }

    @AfterAll
    static void stop() throws Exception {
        HTTP_LOG.removeHandler(CAPTURE);
        server.stop();
        workers.close();
    }

    @BeforeEach
    void clear() {
        RECORDS.clear();
    }

    private static HttpResponse<String> complete(String pipeline, String requestId) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(base.resolve("/v1/completions"))
                .header("Content-Type", "application/json").header("X-Request-Id", requestId)
                .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"" + pipeline + "\", \"prompt\": \"x\","
                        + " \"max_tokens\": 2}")).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static List<LogRecord> withStackTrace() {
        return RECORDS.stream().filter(r -> r.getThrown() != null).toList();
    }

    @Test
    void aThrowingPluginIsLoggedOnceWithItsStackTraceAndTheRequestId() throws Exception {
        HttpResponse<String> r = complete("plugin", "req-plugin-1");
        assertThat(r.statusCode()).isEqualTo(500);
        assertThat(r.body()).contains("logits processor 'throwing'").doesNotContain("\tat ");
        List<LogRecord> logged = withStackTrace();
        assertThat(logged).hasSize(1);
        LogRecord record = logged.get(0);
        assertThat(record.getLevel()).isEqualTo(Level.WARNING);
        assertThat(record.getMessage()).contains("[req-plugin-1]").contains("logits processor 'throwing'")
                .contains("bundle dev.arbor.test.failing");
        assertThat(record.getThrown()).isInstanceOf(ArborException.class)
                .hasRootCauseInstanceOf(IllegalStateException.class).hasRootCauseMessage("fails on purpose");
    }

    @Test
    void anUnexpectedFailureInAWorkerIsLoggedWithItsStackTraceToo() throws Exception {
        HttpResponse<String> r = complete("bug", "req-bug-1");
        assertThat(r.statusCode()).isEqualTo(500);
        assertThat(withStackTrace()).singleElement().satisfies(record -> {
            assertThat(record.getMessage()).contains("[req-bug-1]");
            assertThat(record.getThrown()).isInstanceOf(IllegalStateException.class).hasMessage("fails on purpose");
        });
    }
}
