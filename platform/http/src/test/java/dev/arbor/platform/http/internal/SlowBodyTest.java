package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.testkit.Await;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Clients that send their body a byte now and then: they must hold none of the server's threads (others are served
 * meanwhile), end with 408 at {@code body_timeout_ms}, and count as client errors with no stack trace in the log.
 */
class SlowBodyTest {
    private static final String KEY = "sesame";
    private static final int SLOW_CLIENTS = 40;
    private static final long BODY_TIMEOUT_MS = 6_000;
    private final FakePipelines pipelines = new FakePipelines();
    private final List<LogRecord> records = new CopyOnWriteArrayList<>();
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord record) {
            records.add(record);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    private Server server;
    private Workers workers;
    private ServerMetrics metrics;
    private int port;

    @BeforeEach
    void start() throws Exception {
        ServerSettings settings = ServerSettings.from(Map.of("port", 0, "api_key", KEY, "workers", 2,
                "body_timeout_ms", BODY_TIMEOUT_MS));
        metrics = new ServerMetrics(MetricLabels.of(Set.of("echo"), Set.of()));
        workers = new Workers(settings.workers(), getClass().getClassLoader(), metrics::abandoned);
        // fewer threads than slow clients: if each slow body held a thread, nothing else would be served
        QueuedThreadPool threads = new QueuedThreadPool(16, 4);
        server = new Server(threads);
        ServerConnector connector = HttpServerComponent.connector(server, settings);
        server.addConnector(connector);
        server.setHandler(new OpenAiHandler(pipelines, settings, metrics, workers));
        server.start();
        port = connector.getLocalPort();
        Logger.getLogger("").addHandler(capture);
    }

    @AfterEach
    void stop() throws Exception {
        Logger.getLogger("").removeHandler(capture);
        pipelines.release.countDown();
        server.stop();
        workers.close();
    }

    @Test
    void slowBodiesHoldNoThreadAndEndWith408WhileOtherRequestsAreServed() throws Exception {
        List<Socket> slow = new ArrayList<>();
        long opened = System.nanoTime();
        for (int i = 0; i < SLOW_CLIENTS; i++) {
            Socket s = new Socket("127.0.0.1", port);
            s.setSoTimeout((int) BODY_TIMEOUT_MS + 5_000);
            s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                    + KEY + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
                    .getBytes(StandardCharsets.US_ASCII));
            slow.add(s);
        }
        Thread trickle = new Thread(() -> {
            // a byte per client every 200 ms: never idle long enough for the connection's idle timeout
            while (!Thread.currentThread().isInterrupted()) {
                for (Socket s : slow) {
                    try {
                        s.getOutputStream().write(' ');
                    } catch (IOException closed) {
                        // answered and closed by the server
                    }
                }
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "slow-body-trickle");
        trickle.setDaemon(true);
        trickle.start();
        try {
            // the slow requests are in (none is answered before the body timeout): wait for the server to hold them all
            Await.until(() -> metrics.active() >= SLOW_CLIENTS, () -> "the server to hold " + SLOW_CLIENTS
                    + " slow requests (holds " + metrics.active() + ")");
            assertThat(metrics.active()).as("slow requests being handled").isEqualTo(SLOW_CLIENTS);
            HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();
            for (int i = 0; i < 3; i++) {
                HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
                        + "/v1/completions")).timeout(Duration.ofMillis(BODY_TIMEOUT_MS))
                        .header("Authorization", "Bearer " + KEY)
                        .POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"echo\", \"prompt\": \"a\"}")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertThat(r.statusCode()).isEqualTo(200);
            }
            assertThat((System.nanoTime() - opened) / 1_000_000).as("the normal requests ran while the slow ones"
                    + " were open").isLessThan(BODY_TIMEOUT_MS);
            for (Socket s : slow) {
                String head = statusLine(s.getInputStream());
                assertThat(head).startsWith("HTTP/1.1 408");
            }
            long ended = (System.nanoTime() - opened) / 1_000_000;
            assertThat(ended).as("ms until the last slow client was answered").isBetween(BODY_TIMEOUT_MS,
                    BODY_TIMEOUT_MS + 10_000);
        } finally {
            trickle.interrupt();
            for (Socket s : slow) {
                s.close();
            }
        }
        // a request is counted when its exchange completes, just after the client has the answer: wait for that
        String expected = "arbor_http_requests_total{endpoint=\"completions\",pipeline=\"none\",status=\"408\"} "
                + SLOW_CLIENTS + ".0";
        Await.until(() -> metrics.scrape().contains(expected), () -> "metrics to show " + expected);
        String scrape = metrics.scrape();
        assertThat(scrape).contains(expected).doesNotContain("status=\"500\"");
        assertThat(records).as("log records").noneMatch(r -> r.getThrown() != null
                || r.getLevel().intValue() >= Level.WARNING.intValue());
    }

    private static String statusLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        for (int c; (c = in.read()) != -1 && c != '\n'; ) {
            line.append((char) c);
        }
        return line.toString().trim();
    }
}
