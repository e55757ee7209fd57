package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.testkit.Await;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Slow request bodies against a real server: clients sending a byte every 2 s must neither hold the server's threads
 * (normal requests are served meanwhile) nor count as server errors; they end with 408 at {@code --body-timeout-ms},
 * and bodies cut off by their client end with 400, each without a stack trace in the log.
 */
class SlowBodyIT {
    private static final int SLOW = 80;
    private static final int ABORTED = 10;
    private static final long BODY_TIMEOUT_MS = 15_000;

    @Test
    void slowBodiesAreCutOffWith408WhileNormalRequestsAreServed() throws Exception {
        try (ServedArbor arbor = ServedArbor.start("--body-timeout-ms", Long.toString(BODY_TIMEOUT_MS))) {
            List<Socket> slow = new ArrayList<>();
            long opened = System.nanoTime();
            for (int i = 0; i < SLOW + ABORTED; i++) {
                Socket s = new Socket("127.0.0.1", arbor.port);
                s.setSoTimeout((int) BODY_TIMEOUT_MS + 30_000);
                s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                        + ServedArbor.API_KEY + "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
                        .getBytes(StandardCharsets.US_ASCII));
                slow.add(s);
            }
            Thread trickle = new Thread(() -> {
                while (!Thread.currentThread().isInterrupted()) {
                    for (Socket s : slow.subList(0, SLOW)) {
                        try {
                            s.getOutputStream().write(' ');
                        } catch (IOException answered) {
                            // the server answered and closed
                        }
                    }
                    try {
                        Thread.sleep(2_000);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            }, "slow-body-trickle");
            trickle.setDaemon(true);
            trickle.start();
            try {
                for (Socket s : slow.subList(SLOW, SLOW + ABORTED)) {
                    s.getOutputStream().write("\"model\": \"stories".getBytes(StandardCharsets.US_ASCII));
                    s.shutdownOutput(); // the body ends early: the client gave up
                }
                for (int i = 0; i < 3; i++) {
                    long start = System.nanoTime();
                    HttpResponse<String> r = arbor.post("/v1/completions",
                            "{\"model\": \"stories260k\", \"prompt\": \"Once\", \"max_tokens\": 4}");
                    assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                    assertThat((System.nanoTime() - start) / 1_000_000).as("ms of a normal request").isLessThan(5_000);
                }
                assertThat((System.nanoTime() - opened) / 1_000_000)
                        .as("ms until the normal requests were answered, all slow bodies still open")
                        .isLessThan(BODY_TIMEOUT_MS);
                for (Socket s : slow.subList(SLOW, SLOW + ABORTED)) {
                    assertThat(statusLine(s.getInputStream())).startsWith("HTTP/1.1 400");
                }
                for (Socket s : slow.subList(0, SLOW)) {
                    assertThat(statusLine(s.getInputStream())).startsWith("HTTP/1.1 408");
                }
                assertThat((System.nanoTime() - opened) / 1_000_000).as("ms until the last slow body was cut off")
                        .isBetween(BODY_TIMEOUT_MS, BODY_TIMEOUT_MS + 20_000);
            } finally {
                trickle.interrupt();
                for (Socket s : slow) {
                    s.close();
                }
            }
            // a request is counted when its exchange completes, just after the client has the answer: wait for that
            String timedOut = "endpoint=\"completions\",pipeline=\"none\",status=\"408\"} " + SLOW + ".0";
            String aborted = "endpoint=\"completions\",pipeline=\"none\",status=\"400\"} " + ABORTED + ".0";
            Await.until(() -> {
                String now = metricsBody(arbor);
                return now.contains(timedOut) && now.contains(aborted);
            }, () -> "metrics to show " + timedOut + " and " + aborted);
            String metrics = arbor.get("/metrics").body();
            assertThat(metrics).contains(timedOut).contains(aborted).doesNotContain("status=\"500\"");
            assertThat(arbor.log()).doesNotContain("SEVERE").doesNotContain("\tat ");
        }
    }

    /** The server's /metrics text (a failed scrape is an error of the test, not a reason to keep waiting). */
    private static String metricsBody(ServedArbor arbor) {
        try {
            return arbor.get("/metrics").body();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static String statusLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        for (int c; (c = in.read()) != -1 && c != '\n'; ) {
            line.append((char) c);
        }
        return line.toString().trim();
    }
}
