package dev.arbor.tests.serving;

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
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A bounded load generator for an OpenAI-compatible server: {@code concurrency} clients, each issuing streaming
 * {@code POST /v1/completions} back to back over loopback, every stream read to its end and judged by
 * {@link CompletionStreamValidator}. A run is bounded twice: by a request count and by a wall-clock limit, so a hung
 * server ends a test instead of hanging it; each request also has its own deadline.
 *
 * <p>Clients are platform threads doing blocking reads: one thread per outstanding request is exactly the load
 * shape wanted (N streams open at once), and the read loop is where first-token time is observed.
 */
public final class LoadGenerator implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What to send and how hard.
     *
     * @param baseUri        the server, e.g. {@code http://127.0.0.1:8080}
     * @param model          the {@code model} field (an Arbor pipeline)
     * @param prompts        prompts, used round robin per client
     * @param maxTokens      {@code max_tokens} of every request
     * @param temperature    {@code temperature} of every request
     * @param concurrency    number of clients (streams open at once)
     * @param requestTimeout a request's limit from send to end of stream
     * @param apiKey         sent as a Bearer token when not null
     * @param includeUsage   asks for OpenAI's usage chunk ({@code stream_options.include_usage}), which gives the
     *                       exact generated-token count for the truncation check
     * @param expectedTexts  per prompt, the texts a correct response may have (empty map: not checked)
     */
    public record Config(URI baseUri, String model, List<String> prompts, int maxTokens, double temperature,
                         int concurrency, Duration requestTimeout, String apiKey, boolean includeUsage,
                         Map<String, Set<String>> expectedTexts) {
        public Config {
            Objects.requireNonNull(baseUri, "baseUri");
            Objects.requireNonNull(model, "model");
            prompts = List.copyOf(prompts);
            if (prompts.isEmpty()) {
                throw new IllegalArgumentException("at least one prompt");
            }
            if (maxTokens < 1 || concurrency < 1) {
                throw new IllegalArgumentException("maxTokens and concurrency must be positive");
            }
            requestTimeout = requestTimeout == null ? Duration.ofSeconds(60) : requestTimeout;
            expectedTexts = expectedTexts == null ? Map.of() : Map.copyOf(expectedTexts);
        }

        /** Greedy (temperature 0), 60 s per request, usage requested, no API key, texts not checked. */
        public static Config of(URI baseUri, String model, List<String> prompts, int maxTokens, int concurrency) {
            return new Config(baseUri, model, prompts, maxTokens, 0.0, concurrency, null, null, true, null);
        }

        public Config withExpectedTexts(Map<String, Set<String>> texts) {
            return new Config(baseUri, model, prompts, maxTokens, temperature, concurrency, requestTimeout, apiKey,
                    includeUsage, texts);
        }

        public Config withConcurrency(int clients) {
            return new Config(baseUri, model, prompts, maxTokens, temperature, clients, requestTimeout, apiKey,
                    includeUsage, expectedTexts);
        }

        public Config withRequestTimeout(Duration timeout) {
            return new Config(baseUri, model, prompts, maxTokens, temperature, concurrency, timeout, apiKey,
                    includeUsage, expectedTexts);
        }

        public Config withApiKey(String key) {
            return new Config(baseUri, model, prompts, maxTokens, temperature, concurrency, requestTimeout, key,
                    includeUsage, expectedTexts);
        }

        public Config withIncludeUsage(boolean usage) {
            return new Config(baseUri, model, prompts, maxTokens, temperature, concurrency, requestTimeout, apiKey,
                    usage, expectedTexts);
        }
    }

    private final Config config;
    private final HttpClient http;
    private final ScheduledExecutorService watchdog;

    public LoadGenerator(Config config) {
        this.config = config;
        // HTTP/1.1 as OpenAI clients use it over plain http; HTTP/2 would try an h2c upgrade on every connection
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).build();
        this.watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "load-watchdog");
            t.setDaemon(true);
            return t;
        });
    }

    public Config config() {
        return config;
    }

    /** Runs until {@code maxRequests} requests have been issued and answered, or {@code maxDuration} is over. */
    public LoadReport run(long maxRequests, Duration maxDuration) throws InterruptedException {
        return start(maxRequests, maxDuration, r -> { }).await();
    }

    /**
     * Starts the clients and returns at once. No new request starts after {@code maxRequests} were issued, after
     * {@code maxDuration}, or after {@link Run#stop()}; requests already sent are read to their end.
     *
     * @param onResult called on the client's thread as each request ends (keep it cheap)
     */
    public Run start(long maxRequests, Duration maxDuration, Consumer<RequestResult> onResult) {
        return new Run(maxRequests, maxDuration, onResult);
    }

    /** A run in progress. */
    public final class Run {
        private final AtomicBoolean stopped = new AtomicBoolean();
        private final AtomicLong tickets = new AtomicLong();
        private final AtomicInteger inFlight = new AtomicInteger();
        private final AtomicInteger maxInFlight = new AtomicInteger();
        private final ConcurrentLinkedQueue<RequestResult> results = new ConcurrentLinkedQueue<>();
        private final Thread[] clients;
        private final long deadline;

        private Run(long maxRequests, Duration maxDuration, Consumer<RequestResult> onResult) {
            this.deadline = System.nanoTime() + maxDuration.toNanos();
            this.clients = new Thread[config.concurrency()];
            for (int c = 0; c < clients.length; c++) {
                int client = c;
                clients[c] = new Thread(() -> {
                    int sequence = client;   // clients start on different prompts so that prompts interleave
                    while (!stopped.get() && System.nanoTime() < deadline
                            && tickets.getAndIncrement() < maxRequests) {
                        String prompt = config.prompts().get(sequence++ % config.prompts().size());
                        maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
                        RequestResult r;
                        try {
                            r = execute(client, prompt);
                        } finally {
                            inFlight.decrementAndGet();
                        }
                        results.add(r);
                        onResult.accept(r);
                    }
                }, "load-client-" + c);
                clients[c].setDaemon(true);
                clients[c].start();
            }
        }

        /** Requests outstanding now. */
        public int inFlight() {
            return inFlight.get();
        }

        /** Requests answered so far. */
        public int completed() {
            return results.size();
        }

        /** The results so far (a copy). */
        public List<RequestResult> results() {
            return new ArrayList<>(results);
        }

        /** Lets requests in flight finish, starts no new ones. */
        public void stop() {
            stopped.set(true);
        }

        public boolean finished() {
            for (Thread t : clients) {
                if (t.isAlive()) {
                    return false;
                }
            }
            return true;
        }

        /** Waits for the clients (bounded: the run's limit plus one request timeout) and reports. */
        public LoadReport await() throws InterruptedException {
            long limit = Math.max(0, deadline - System.nanoTime()) + config.requestTimeout().toNanos()
                    + TimeUnit.SECONDS.toNanos(5);
            long until = System.nanoTime() + limit;
            for (Thread t : clients) {
                t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(until - System.nanoTime())));
                if (t.isAlive()) {
                    stop();
                    throw new IllegalStateException(t.getName() + " still running after the run's limit");
                }
            }
            List<RequestResult> all = new ArrayList<>(results);
            long first = all.stream().mapToLong(RequestResult::startNanos).min().orElse(0);
            long last = all.stream().mapToLong(RequestResult::endNanos).max().orElse(0);
            return new LoadReport(all, last - first, config.concurrency(), maxInFlight.get());
        }
    }

    /** One streaming request, read to its end. Never throws: every way it can go wrong is an outcome. */
    RequestResult execute(int client, String prompt) {
        ObjectNode body = JSON.createObjectNode();
        body.put("model", config.model());
        body.put("prompt", prompt);
        body.put("max_tokens", config.maxTokens());
        body.put("temperature", config.temperature());
        body.put("stream", true);
        if (config.includeUsage()) {
            body.putObject("stream_options").put("include_usage", true);
        }
        HttpRequest.Builder request = HttpRequest.newBuilder(config.baseUri().resolve("/v1/completions"))
                .timeout(config.requestTimeout())   // until the response headers arrive; the watchdog covers the body
                .header("Content-Type", "application/json")
                .header("Accept", "text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString(), StandardCharsets.UTF_8));
        if (config.apiKey() != null) {
            request.header("Authorization", "Bearer " + config.apiKey());
        }
        Set<String> expected = config.expectedTexts().getOrDefault(prompt, Set.of());
        CompletionStreamValidator validator = new CompletionStreamValidator(config.model(), config.maxTokens(),
                expected);
        Deadline guard = new Deadline(Thread.currentThread());
        long start = System.nanoTime();
        long firstToken = 0;
        int status = 0;
        ScheduledFuture<?> timer = watchdog.schedule(guard::expire, config.requestTimeout().toNanos(),
                TimeUnit.NANOSECONDS);
        try {
            HttpResponse<InputStream> response = http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
            status = response.statusCode();
            guard.body = response.body();
            try (InputStream in = response.body()) {
                if (status != 200) {
                    String error = new String(in.readNBytes(2048), StandardCharsets.UTF_8);
                    return result(client, prompt, start, 0, status, Outcome.FAILED,
                            "HTTP " + status + ": " + CompletionStreamValidator.abbreviate(error), validator);
                }
                String contentType = response.headers().firstValue("Content-Type").orElse("");
                SseEventReader sse = new SseEventReader(
                        new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8)));
                for (String data; (data = sse.next()) != null; ) {
                    String delta = validator.accept(data);
                    if (firstToken == 0 && !delta.isEmpty()) {
                        firstToken = System.nanoTime();
                    }
                }
                if (guard.finish()) {
                    return result(client, prompt, start, firstToken, status, Outcome.FAILED,
                            "no end of stream within " + config.requestTimeout().toMillis() + " ms", validator);
                }
                CompletionStreamValidator.Verdict verdict = validator.finish(sse);
                if (!contentType.startsWith("text/event-stream")) {
                    String problem = "Content-Type '" + contentType + "', expected text/event-stream";
                    verdict = verdict.outcome() == Outcome.OK ? new CompletionStreamValidator.Verdict(
                            Outcome.MALFORMED, problem) : new CompletionStreamValidator.Verdict(verdict.outcome(),
                            verdict.problem() + "; " + problem);
                }
                return result(client, prompt, start, firstToken, status, verdict.outcome(), verdict.problem(),
                        validator);
            }
        } catch (IOException e) {
            boolean expired = guard.finish();
            return result(client, prompt, start, firstToken, status, Outcome.FAILED, expired
                    ? "no end of stream within " + config.requestTimeout().toMillis() + " ms" : e.toString(), validator);
        } catch (InterruptedException e) {
            if (guard.finish()) {   // our own watchdog interrupted the read: a timeout, not a shutdown
                return result(client, prompt, start, firstToken, status, Outcome.FAILED,
                        "no end of stream within " + config.requestTimeout().toMillis() + " ms", validator);
            }
            Thread.currentThread().interrupt();
            return result(client, prompt, start, firstToken, status, Outcome.FAILED, "interrupted", validator);
        } finally {
            timer.cancel(false);
            guard.finish();
        }
    }

    private RequestResult result(int client, String prompt, long start, long firstToken, int status, Outcome outcome,
                                 String problem, CompletionStreamValidator validator) {
        return new RequestResult(client, prompt, start, firstToken, System.nanoTime(), status, outcome, problem,
                validator.text(), validator.finishReason(), validator.tokens());
    }

    /**
     * A request's deadline. A blocked read of the JDK client's body stream is not reliably woken by closing the
     * stream, so expiry closes it and interrupts the reading thread; the lock makes sure an interrupt can never
     * land on the thread's next request.
     */
    private static final class Deadline {
        private final Thread reader;
        private volatile InputStream body;
        private boolean done;
        private boolean expired;

        Deadline(Thread reader) {
            this.reader = reader;
        }

        synchronized void expire() {
            if (!done) {
                expired = true;
                done = true;
                reader.interrupt();
                InputStream in = body;
                if (in != null) {
                    try {
                        in.close();
                    } catch (IOException ignored) {
                        // closing is only a second way to wake the reader; the interrupt is the first
                    }
                }
            }
        }

        /** Ends the deadline; true when it had expired (the reader's interrupt flag is then cleared). */
        synchronized boolean finish() {
            done = true;
            if (expired) {
                Thread.interrupted();
            }
            return expired;
        }
    }

    @Override
    public void close() {
        // Java 17's HttpClient has no close(); its idle connections go with it when it is collected
        watchdog.shutdownNow();
    }
}
