package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Work stops when nobody waits for it: a prompt too large for max_prompt_tokens is refused before it is tokenized,
 * tokenization runs under the request's deadline, and a request whose client leaves (streaming or not) or whose
 * deadline passes gets its worker interrupted, which the running-workers gauge shows returning to 0.
 */
class CancellationAndPromptLimitsTest {
    private static final String KEY = "k";
    private final HttpClient client = HttpClient.newHttpClient();
    private final AtomicInteger tokenizeCalls = new AtomicInteger();
    private final CountDownLatch started = new CountDownLatch(1);
    private final CountDownLatch stopped = new CountDownLatch(1);
    private Server server;
    private Workers workers;
    private ServerMetrics metrics;
    private URI base;

    /** "spin" works until its thread is interrupted (as a generator checking its Cancellation does). */
    private final PipelineService fake = new PipelineService() {
        @Override
        public List<PipelineStatus> pipelines() {
            return List.of(status("spin").orElseThrow(), status("echo").orElseThrow());
        }

        @Override
        public Optional<PipelineStatus> status(String name) {
            return Optional.of(new PipelineStatus(name, true, List.of(), null));
        }

        @Override
        public Completion complete(CompletionRequest request, TextSink sink) {
            if (request.pipeline().equals("echo")) {
                sink.onText("ok", 5, -0.1);
                return new Completion("echo", "ok", new int[] {1}, new int[] {5}, new double[] {-0.1},
                        FinishReason.LENGTH, 1, 2, Map.of());
            }
            spinUntilInterrupted();
            throw new ArborException(ArborException.Kind.CANCELLED, "stopped");
        }

        @Override
        public int[] tokenize(String pipeline, String text) {
            tokenizeCalls.incrementAndGet();
            if (text.startsWith("slow")) {
                spinUntilInterrupted(); // a tokenizer taking longer than the deadline
            }
            return new int[text.length()];
        }

        @Override
        public dev.arbor.api.postprocess.PostProcessor.Output analyze(String pipeline, String text,
                                                                     dev.arbor.api.Options options) {
            throw new IllegalStateException("not used");
        }

        @Override
        public void define(PipelineDefinition definition) {
            throw new IllegalStateException("not used");
        }
    };

    private void spinUntilInterrupted() {
        started.countDown();
        while (!Thread.currentThread().isInterrupted()) {
            Math.sqrt(System.nanoTime()); // busy: an abandoned copy of this would keep a core busy
        }
        stopped.countDown();
    }

    private void start(long timeoutMillis) throws Exception {
        ServerSettings settings = ServerSettings.from(Map.of("port", 0, "api_key", KEY, "max_body_bytes", 1 << 20,
                "max_prompt_tokens", 10, "request_timeout_ms", timeoutMillis, "workers", 2));
        metrics = new ServerMetrics(MetricLabels.of(java.util.Set.of("spin", "echo"), java.util.Set.of()));
        workers = new Workers(settings.workers(), getClass().getClassLoader(), metrics::abandoned);
        metrics.trackWorkers(workers::running);
        server = new Server();
        ServerConnector connector = HttpServerComponent.connector(server, settings);
        server.addConnector(connector);
        server.setHandler(new OpenAiHandler(fake, settings, metrics, workers));
        server.start();
        base = URI.create("http://127.0.0.1:" + connector.getLocalPort());
    }

    @AfterEach
    void stop() throws Exception {
        server.stop();
        workers.close();
    }

    private HttpResponse<String> post(String json) throws Exception {
        return client.send(HttpRequest.newBuilder(base.resolve("/v1/completions")).timeout(Duration.ofSeconds(20))
                .header("Authorization", "Bearer " + KEY).POST(HttpRequest.BodyPublishers.ofString(json)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void aPromptLargerThanMaxPromptTokensCouldNeedIsRefusedBeforeTokenizing() throws Exception {
        start(60_000);
        // 10 tokens x 256 bytes per token = 2560 bytes: one byte more is refused, in ASCII and in 2-byte UTF-8
        for (String prompt : new String[] {"x".repeat(2561), "é".repeat(1281)}) {
            HttpResponse<String> r = post("{\"model\": \"echo\", \"prompt\": \"" + prompt + "\"}");
            assertThat(r.statusCode()).isEqualTo(400);
            assertThat(r.body()).contains("limit of 2560 UTF-8 bytes").contains("max_prompt_tokens 10")
                    .contains("max_prompt_bytes");
        }
        assertThat(tokenizeCalls).as("nothing was tokenized").hasValue(0);
        HttpResponse<String> fits = post("{\"model\": \"echo\", \"prompt\": \"" + "é".repeat(1280) + "\"}");
        assertThat(fits.statusCode()).as("2560 bytes pass the byte guard; the token count decides").isEqualTo(400);
        assertThat(fits.body()).contains("1280 tokens").contains("limit of 10 (max_prompt_tokens)");
        assertThat(post("{\"model\": \"echo\", \"prompt\": \"short\"}").statusCode()).isEqualTo(200);
    }

    @Test
    void tokenizationRunsUnderTheDeadlineAndStopsThere() throws Exception {
        start(500);
        long t0 = System.nanoTime();
        HttpResponse<String> r = post("{\"model\": \"echo\", \"prompt\": \"slow to tokenize\"}");
        assertThat(r.statusCode()).isEqualTo(504);
        assertThat((System.nanoTime() - t0) / 1_000_000).isLessThan(5_000);
        assertThat(stopped.await(10, TimeUnit.SECONDS)).as("the tokenizing worker was stopped").isTrue();
        awaitNoRunningWorkers();
    }

    @Test
    void aGenerationPastItsDeadlineAnswers504AndItsWorkerStops() throws Exception {
        start(500);
        HttpResponse<String> r = post("{\"model\": \"spin\", \"prompt\": \"a\"}");
        assertThat(r.statusCode()).isEqualTo(504);
        assertThat(stopped.await(10, TimeUnit.SECONDS)).isTrue();
        awaitNoRunningWorkers();
    }

    @Test
    void aNonStreamingRequestWhoseClientLeftStopsItsWorker() throws Exception {
        leaveMidRequest(false);
    }

    @Test
    void aStreamingRequestWhoseClientLeftBeforeAnyTokenStopsItsWorker() throws Exception {
        leaveMidRequest(true);
    }

    @Test
    void theConnectionServesTheNextRequestAfterAWatchedOne() throws Exception {
        start(60_000);
        for (int i = 0; i < 3; i++) {
            assertThat(post("{\"model\": \"echo\", \"prompt\": \"a\"}").statusCode()).isEqualTo(200);
        }
        assertThat(post("{\"model\": \"echo\", \"prompt\": \"a\", \"stream\": true}").body()).contains("[DONE]");
    }

    @Test
    void aKeepAliveClientSendingItsNextRequestAsSoonAsAStreamEndsIsServedEveryTime() throws Exception {
        // the client has the stream's last bytes before the worker returns: the departure watch must already be
        // closed then, or it consumes the first byte of the next request ("method OST is not allowed")
        start(60_000);
        String body = "{\"model\": \"echo\", \"prompt\": \"a\", \"stream\": true}";
        byte[] request = ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY
                + "\r\nContent-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8);
        try (Socket socket = new Socket(base.getHost(), base.getPort())) {
            socket.setSoTimeout(10_000);
            java.io.InputStream in = socket.getInputStream();
            for (int i = 0; i < 200; i++) {
                socket.getOutputStream().write(request);
                socket.getOutputStream().flush();
                String answer = readChunkedAnswer(in);
                assertThat(answer).as("answer %d on one connection", i).startsWith("HTTP/1.1 200")
                        .contains("[DONE]");
            }
        }
    }

    /** One HTTP/1.1 answer with a chunked body, read up to and including its last chunk. */
    private static String readChunkedAnswer(java.io.InputStream in) throws java.io.IOException {
        StringBuilder got = new StringBuilder();
        while (!got.toString().endsWith("\r\n0\r\n\r\n") && !(got.indexOf("Content-Length:") >= 0
                && got.indexOf("\r\n\r\n") >= 0 && got.toString().startsWith("HTTP/1.1 4"))) {
            int b = in.read();
            if (b < 0) {
                break;
            }
            got.append((char) b);
        }
        return got.toString();
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        start(60_000);
        String body = "{\"model\": \"echo\", \"prompt\": \"a\"}";
        String one = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY
                + "\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
        try (Socket socket = new Socket(base.getHost(), base.getPort())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write((one + one).getBytes(StandardCharsets.UTF_8));
            socket.getOutputStream().flush();
            java.io.InputStream in = socket.getInputStream();
            StringBuilder got = new StringBuilder();
            byte[] buf = new byte[4096];
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (got.toString().split("HTTP/1.1 ", -1).length < 3 && System.nanoTime() < until) {
                int n = in.read(buf);
                if (n < 0) {
                    break;
                }
                got.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            }
            String all = got.toString();
            // both answered, or the first with Connection: close; never a misread second request
            // (status lines only: a random completion id may well contain "400")
            assertThat(all).startsWith("HTTP/1.1 200").doesNotContain("HTTP/1.1 4").doesNotContain("Bad Message");
            if (!all.contains("Connection: close")) {
                assertThat(all.split("HTTP/1.1 200", -1)).hasSize(3);
            }
        }
    }

    private void leaveMidRequest(boolean stream) throws Exception {
        start(60_000); // far beyond the test: only the client's departure can stop the work
        String body = "{\"model\": \"spin\", \"prompt\": \"a\", \"stream\": " + stream + "}";
        try (Socket socket = new Socket(base.getHost(), base.getPort())) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + KEY
                    + "\r\nContent-Type: application/json\r\nContent-Length: "
                    + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            out.flush();
            assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(stopped.await(10, TimeUnit.SECONDS)).as("the worker stopped after its client left").isTrue();
        awaitNoRunningWorkers();
    }

    /** Waits (bounded) for the gauge of running workers in /metrics to read 0. */
    private void awaitNoRunningWorkers() throws Exception {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        String line = null;
        while (System.nanoTime() < until) {
            line = metrics.scrape().lines().filter(l -> l.startsWith("arbor_http_running_workers "))
                    .findFirst().orElse(null);
            if ("arbor_http_running_workers 0.0".equals(line)) {
                return;
            }
            Thread.sleep(20);
        }
        assertThat(line).isEqualTo("arbor_http_running_workers 0.0");
    }
}
