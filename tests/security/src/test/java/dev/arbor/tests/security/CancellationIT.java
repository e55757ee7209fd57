package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * No abandoned work: a request whose client disconnects (streaming or not) or whose deadline passes stops its
 * worker, seen by the gauge {@code arbor_http_running_workers} in /metrics returning to 0. The work is a real one
 * of about a minute: 16 choices of 120 tokens from the masked-diffusion model, decoded in 120 steps each.
 */
class CancellationIT {
    private static final Pattern RUNNING = Pattern.compile("(?m)^arbor_http_running_workers (\\S+)$");
    private static final String LONG_WORK = "{\"model\": \"arbor-tiny-mdlm\", \"prompt\": \"Once\", \"max_tokens\": 120,"
            + " \"n\": 16, \"arbor\": {\"generator\": {\"name\": \"entropy-order\", \"options\": {\"steps\": 120}}}";
    private static ServedArbor arbor;

    @BeforeAll
    static void start() throws Exception {
        arbor = ServedArbor.start("--request-timeout-ms", "6000");
    }

    @AfterAll
    static void stop() throws Exception {
        if (arbor != null) {
            arbor.close();
        }
    }

    private static double runningWorkers() throws Exception {
        HttpResponse<String> r = arbor.get("/metrics");
        Matcher m = RUNNING.matcher(r.body());
        assertThat(m.find()).as("/metrics has arbor_http_running_workers").isTrue();
        return Double.parseDouble(m.group(1));
    }

    /** Polls the gauge until it reads {@code value}; returns the milliseconds waited, or fails after {@code max}. */
    private static long awaitRunning(double value, long maxMillis) throws Exception {
        long start = System.nanoTime();
        double seen;
        do {
            seen = runningWorkers();
            if (seen == value) {
                return (System.nanoTime() - start) / 1_000_000;
            }
            Thread.sleep(20);
        } while (System.nanoTime() - start < TimeUnit.MILLISECONDS.toNanos(maxMillis));
        throw new AssertionError("arbor_http_running_workers stayed " + seen + ", expected " + value + " within "
                + maxMillis + " ms; server log:\n" + arbor.log());
    }

    private static void leaveMidRequest(boolean stream) throws Exception {
        awaitRunning(0, 30_000);
        String body = LONG_WORK + ", \"stream\": " + stream + "}";
        try (Socket socket = new Socket("127.0.0.1", arbor.port)) {
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + ServedArbor.API_KEY
                    + "\r\nContent-Type: application/json\r\nContent-Length: "
                    + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.UTF_8));
            out.flush();
            awaitRunning(1, 5_000); // the work started
        }
        // the first choice alone takes seconds: only noticing the departure ends the work this soon
        long millis = awaitRunning(0, 2_500);
        assertThat(millis).isLessThan(2_500);
    }

    @Test
    void aNonStreamingRequestWhoseClientLeftStopsItsWorker() throws Exception {
        leaveMidRequest(false);
    }

    @Test
    void aStreamingRequestWhoseClientLeftStopsItsWorker() throws Exception {
        leaveMidRequest(true);
    }

    @Test
    void aRequestPastTheDeadlineAnswers504AndItsWorkerStops() throws Exception {
        awaitRunning(0, 30_000);
        long start = System.nanoTime();
        HttpResponse<String> r = arbor.post("/v1/completions", LONG_WORK + "}");
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertThat(r.statusCode()).as(r.body()).isEqualTo(504);
        assertThat(r.body()).contains("request_timeout_ms").doesNotContain("Exception");
        assertThat(millis).isBetween(5_900L, 9_000L);
        awaitRunning(0, 2_000);
    }
}
