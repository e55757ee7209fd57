package dev.arbor.tests.serving;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Closed-loop clients sending {@code POST /v1/completions} through a balancer, alternating non-streaming and
 * streaming requests, each client one request at a time until stopped. Every answer is judged:
 * <ul>
 *   <li>non-streaming: {@link Kind#OK} only for a 200 carrying a well-formed completion (and, when an expected text
 *       is given, that text); anything else is {@link Kind#FAILED};</li>
 *   <li>streaming: {@link Kind#OK} for a stream that {@link CompletionStreamValidator} accepts (finish reason, one
 *       {@code [DONE]}, the promised token count, the expected text); {@link Kind#ERROR_EVENT} for a stream that
 *       ended cleanly with an OpenAI error event as its last event (the server gave up on it and said so);
 *       {@link Kind#FAILED} for anything else: a status other than 200, a cut-off or malformed stream.</li>
 * </ul>
 */
public final class MixedCompletionLoad implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** How one request ended. */
    public enum Kind { OK, ERROR_EVENT, FAILED }

    /** One answered request; {@code tokens} is the generated-token count the answer reports (0 unless OK). */
    public record Result(boolean streamed, Kind kind, int tokens, long startNanos, long endNanos, String problem) {
    }

    private final URI completions;
    private final String model;
    private final String prompt;
    private final int maxTokens;
    private final String expectedText;
    private final HttpClient http;
    private final AtomicBoolean stopped = new AtomicBoolean();
    private final List<Result> results = new ArrayList<>();
    private final List<Thread> clients = new ArrayList<>();
    private final boolean streamsOnly;

    /**
     * @param base         the balancer (or a server)
     * @param model        the pipeline
     * @param prompt       the prompt of every request
     * @param maxTokens    {@code max_tokens}; requests are greedy (temperature 0)
     * @param expectedText the text every answer must have (null: not checked)
     * @param streamsOnly  every request streams (else they alternate per client)
     */
    public MixedCompletionLoad(URI base, String model, String prompt, int maxTokens, String expectedText,
                               boolean streamsOnly) {
        this.completions = base.resolve("/v1/completions");
        this.model = model;
        this.prompt = prompt;
        this.maxTokens = maxTokens;
        this.expectedText = expectedText;
        this.streamsOnly = streamsOnly;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
    }

    /** Starts {@code count} clients; each sends requests one after the other until {@link #stop()}. */
    public void start(int count) {
        for (int i = 0; i < count; i++) {
            int client = i;
            Thread t = new Thread(() -> loop(client), "load-client-" + i);
            t.setDaemon(true);
            clients.add(t);
            t.start();
        }
    }

    /** Answered requests so far. */
    public int completed() {
        synchronized (results) {
            return results.size();
        }
    }

    /** Waits until at least {@code count} requests have been answered in all; false after {@code timeout}. */
    public boolean awaitCompleted(int count, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (results) {
            while (results.size() < count) {
                long left = (deadline - System.nanoTime()) / 1_000_000L;
                if (left <= 0) {
                    return false;
                }
                results.wait(left);
            }
            return true;
        }
    }

    /** Lets every client finish the request it is in, then stop; returns all results. */
    public List<Result> stop() throws InterruptedException {
        stopped.set(true);
        for (Thread t : clients) {
            t.join(Duration.ofSeconds(150).toMillis());
        }
        synchronized (results) {
            return List.copyOf(results);
        }
    }

    @Override
    public void close() throws InterruptedException {
        stop();
    }

    private void loop(int client) {
        for (int i = 0; !stopped.get(); i++) {
            boolean stream = streamsOnly || (client + i) % 2 == 1;
            long start = System.nanoTime();
            Result result;
            try {
                result = stream ? streamed(start) : whole(start);
            } catch (IOException e) {
                result = new Result(stream, Kind.FAILED, 0, start, System.nanoTime(), e.toString());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
            synchronized (results) {
                results.add(result);
                results.notifyAll();
            }
        }
    }

    private HttpRequest request(boolean stream) {
        ObjectNode body = JSON.createObjectNode().put("model", model).put("prompt", prompt)
                .put("max_tokens", maxTokens).put("temperature", 0).put("stream", stream);
        if (stream) {
            body.putObject("stream_options").put("include_usage", true);
        }
        return HttpRequest.newBuilder(completions).timeout(Duration.ofSeconds(120))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
    }

    private Result whole(long start) throws IOException, InterruptedException {
        HttpResponse<String> response = http.send(request(false), HttpResponse.BodyHandlers.ofString());
        long end = System.nanoTime();
        if (response.statusCode() != 200) {
            return new Result(false, Kind.FAILED, 0, start, end, "HTTP " + response.statusCode() + ": "
                    + CompletionStreamValidator.abbreviate(response.body()));
        }
        JsonNode answer = JSON.readTree(response.body());
        JsonNode choice = answer.path("choices").path(0);
        String text = choice.path("text").asText(null);
        String finish = choice.path("finish_reason").asText(null);
        if (!"text_completion".equals(answer.path("object").asText()) || text == null || finish == null
                || (expectedText != null && !expectedText.equals(text))) {
            return new Result(false, Kind.FAILED, 0, start, end, "unexpected completion: "
                    + CompletionStreamValidator.abbreviate(response.body()));
        }
        return new Result(false, Kind.OK, answer.path("usage").path("completion_tokens").asInt(), start, end, "");
    }

    private Result streamed(long start) throws IOException, InterruptedException {
        HttpResponse<InputStream> response = http.send(request(true), HttpResponse.BodyHandlers.ofInputStream());
        try (InputStream in = response.body()) {
            if (response.statusCode() != 200) {
                String body = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                return new Result(true, Kind.FAILED, 0, start, System.nanoTime(), "HTTP " + response.statusCode()
                        + ": " + CompletionStreamValidator.abbreviate(body));
            }
            SseEventReader sse = new SseEventReader(new BufferedReader(new InputStreamReader(in,
                    StandardCharsets.UTF_8)));
            List<String> events = new ArrayList<>();
            for (String event = sse.next(); event != null; event = sse.next()) {
                events.add(event);
            }
            long end = System.nanoTime();
            boolean errorEnd = !events.isEmpty() && isErrorEvent(events.get(events.size() - 1));
            CompletionStreamValidator validator = new CompletionStreamValidator(model, maxTokens,
                    expectedText == null ? Set.of() : Set.of(expectedText));
            for (String event : errorEnd ? events.subList(0, events.size() - 1) : events) {
                validator.accept(event);
            }
            if (errorEnd) {
                // clean: the error event was complete and nothing but content chunks came before it
                boolean clean = !sse.unterminatedEventAtEnd() && sse.anomalies().isEmpty()
                        && events.stream().limit(events.size() - 1L).noneMatch("[DONE]"::equals);
                return new Result(true, clean ? Kind.ERROR_EVENT : Kind.FAILED, 0, start, end,
                        events.get(events.size() - 1));
            }
            CompletionStreamValidator.Verdict verdict = validator.finish(sse);
            return verdict.outcome() == Outcome.OK
                    ? new Result(true, Kind.OK, validator.tokens(), start, end, "")
                    : new Result(true, Kind.FAILED, 0, start, end, verdict.outcome() + ": " + verdict.problem());
        }
    }

    private static boolean isErrorEvent(String data) {
        try {
            JsonNode node = JSON.readTree(data);
            return node != null && node.isObject() && node.path("error").isObject();
        } catch (IOException notJson) {
            return false;
        }
    }
}
