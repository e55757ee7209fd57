package dev.arbor.tests.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A stand-in for the OpenAI-compatible server, on loopback, whose behaviour the prompt chooses: {@code good} streams
 * a correct response of {@code max_tokens} chunks (one word each) with finish reason {@code length}, a usage chunk
 * and {@code [DONE]}; the other prompts break it in one way each, so that tests can check the load generator
 * catches every kind of breakage.
 */
final class FakeCompletionServer implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    private final HttpServer server;
    final AtomicInteger active = new AtomicInteger();
    final AtomicInteger maxActive = new AtomicInteger();
    /** Released by a test to let the "hang" prompt finish (it otherwise waits for the client to give up). */
    final CountDownLatch release = new CountDownLatch(1);
    volatile long chunkDelayMillis = 1;
    /**
     * When set, each "good" request counts down {@code arrived} on arrival and streams only once {@code proceed} is
     * open: a test waits on {@code arrived} to see requests overlap as an event, not as a matter of timing.
     */
    volatile Gate gate;

    /** Holds "good" requests until the test lets them proceed; see {@link #gate}. */
    record Gate(CountDownLatch arrived, CountDownLatch proceed) {
        /** A gate that opens by itself once {@code requests} requests are inside together. */
        static Gate opensAt(int requests) {
            CountDownLatch arrived = new CountDownLatch(requests);
            return new Gate(arrived, arrived);
        }

        /** A gate that holds requests until the test counts down {@link #proceed}. */
        static Gate held(int requests) {
            return new Gate(new CountDownLatch(requests), new CountDownLatch(1));
        }
    }

    FakeCompletionServer() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 64);
        server.setExecutor(Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "fake-server");
            t.setDaemon(true);
            return t;
        }));
        server.createContext("/v1/completions", this::handle);
        server.start();
    }

    URI uri() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    private void handle(HttpExchange exchange) throws IOException {
        maxActive.accumulateAndGet(active.incrementAndGet(), Math::max);
        Ending ending = new Ending();
        try {
            respond(exchange, ending);
        } finally {
            ending.end();
            exchange.close();   // a streamed body's last bytes (the terminating chunk) go out here
        }
    }

    /**
     * Ends a request's count in {@link #active} once, before its response's last bytes are written: a client that
     * has read its response to the end sends its next request at once, and the request it just finished must not
     * still be counted when that one arrives (counting up to the end of the handler showed 5 requests "in flight"
     * from 4 clients).
     */
    private final class Ending {
        private boolean ended;

        void end() {
            if (!ended) {
                ended = true;
                active.decrementAndGet();
            }
        }
    }

    private void respond(HttpExchange exchange, Ending ending) throws IOException {
        JsonNode request = JSON.readTree(exchange.getRequestBody());
        String prompt = request.path("prompt").asText();
        int maxTokens = request.path("max_tokens").asInt();
        boolean usage = request.path("stream_options").path("include_usage").asBoolean(false);
        if (prompt.equals("error")) {
            byte[] body = "{\"error\":{\"message\":\"pipeline unavailable\"}}".getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().add("Content-Type", "application/json");
            exchange.sendResponseHeaders(503, body.length);
            ending.end();   // a fixed-length body is complete for the client with its last byte
            exchange.getResponseBody().write(body);
            return;
        }
        exchange.getResponseHeaders().add("Content-Type",
                prompt.equals("wrong-type") ? "application/json" : "text/event-stream");
        exchange.sendResponseHeaders(200, 0);   // 0: chunked, the body is streamed
        Gate g = gate;
        if (g != null && prompt.equals("good")) {
            g.arrived().countDown();
            awaitQuietly(g.proceed());
        }
        OutputStream out = exchange.getResponseBody();
        int tokens = switch (prompt) {
            case "short" -> maxTokens - 1;   // claims 'length' one token early
            default -> maxTokens;
        };
        for (int i = 0; i < tokens; i++) {
            boolean last = i == tokens - 1;
            String reason = !last || prompt.equals("no-finish") ? null : prompt.equals("stop") ? "stop" : "length";
            if (prompt.equals("truncated") && i == tokens / 2) {
                return;   // the server goes away mid-stream: clean end of body, no [DONE]
            }
            if (prompt.equals("malformed") && i == 1) {
                send(out, "{\"id\": \"cmpl-1\", \"choices\": [");
            }
            if (prompt.equals("cut-event") && i == 1) {
                out.write("data: {\"id\":\"cmpl-1\"".getBytes(StandardCharsets.UTF_8));   // no blank line
                out.flush();
                return;
            }
            if (prompt.equals("hang") && i == 1) {
                try {
                    release.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return;
            }
            send(out, chunk("w" + i + " ", reason).toString());
            sleep(chunkDelayMillis);
        }
        if (usage) {
            ObjectNode u = chunk(null, null);
            u.putArray("choices");
            u.putObject("usage").put("prompt_tokens", 1).put("completion_tokens", tokens)
                    .put("total_tokens", tokens + 1);
            send(out, u.toString());
        }
        send(out, "[DONE]");
        if (prompt.equals("double-done")) {
            send(out, "[DONE]");
        }
    }

    private static void awaitQuietly(CountDownLatch latch) {
        try {
            if (!latch.await(60, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the test never opened the gate");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static ObjectNode chunk(String text, String finishReason) {
        ObjectNode c = JSON.createObjectNode();
        c.put("id", "cmpl-1");
        c.put("object", "text_completion");
        c.put("created", 1);
        c.put("model", "stories260k");
        if (text != null) {
            ObjectNode choice = c.putArray("choices").addObject();
            choice.put("index", 0);
            choice.put("text", text);
            choice.putNull("logprobs");
            if (finishReason == null) {
                choice.putNull("finish_reason");
            } else {
                choice.put("finish_reason", finishReason);
            }
        }
        return c;
    }

    private static void send(OutputStream out, String data) throws IOException {
        out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        release.countDown();
        server.stop(0);
    }
}
