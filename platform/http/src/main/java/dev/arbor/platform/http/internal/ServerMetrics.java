package dev.arbor.platform.http.internal;

import dev.arbor.backend.support.StepCoalescer;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntSupplier;

/**
 * The server's Prometheus metrics (Micrometer names; Prometheus adds {@code _total}, {@code _seconds}, ...):
 * requests by pipeline/endpoint/status, tokens generated, time to first token and latency histograms, active
 * requests, part swaps seen in the framework, abandoned (stuck) workers, worker threads still running (a
 * cancelled or abandoned request's work included, so a worker that keeps a core busy shows), and the engine's
 * continuous batching: steps per batched forward run and the time a step queued before its run (fed by backends
 * through the {@link StepCoalescer.Observer} service {@link #batchObserver()}). Pipeline and generator
 * labels pass through {@link MetricLabels}: a name no operator configured becomes "unknown", so label sets stay
 * bounded whatever clients send.
 */
final class ServerMetrics {
    static final String REQUESTS = "arbor.http.requests";
    static final String TOKENS = "arbor.tokens.generated";
    static final String TTFT = "arbor.time.to.first.token";
    static final String LATENCY = "arbor.http.request.duration";
    static final String ACTIVE = "arbor.http.active.requests";
    static final String SWAPS = "arbor.swaps";
    static final String ABANDONED = "arbor.http.abandoned.workers";
    static final String RUNNING_WORKERS = "arbor.http.running.workers";
    static final String SPECULATIVE_DRAFTED = "arbor.speculative.drafted";
    static final String SPECULATIVE_ACCEPTED = "arbor.speculative.accepted";
    static final String SPECULATIVE_STEPS = "arbor.speculative.steps";
    static final String BATCH_SIZE = "arbor.engine.batch.size";
    static final String QUEUE_WAIT = "arbor.engine.queue.wait";

    /** The pipeline label of requests that name none (bad routes, malformed bodies, /metrics). */
    static final String NO_PIPELINE = "none";

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final AtomicInteger active = new AtomicInteger();
    private final Counter abandoned;
    private final MetricLabels labels;
    private final DistributionSummary batchSize;
    private final Timer queueWait;

    ServerMetrics(MetricLabels labels) {
        this.labels = labels;
        Gauge.builder(ACTIVE, active, AtomicInteger::get).description("requests being handled now")
                .register(registry);
        abandoned = Counter.builder(ABANDONED)
                .description("worker threads abandoned at a request's deadline (a plugin did not return)")
                .register(registry);
        batchSize = DistributionSummary.builder(BATCH_SIZE)
                .description("requests' forward steps run together in one batched forward (continuous batching)")
                .publishPercentileHistogram().serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64).register(registry);
        queueWait = Timer.builder(QUEUE_WAIT).description("time a forward step waited for its batched run")
                .publishPercentileHistogram().minimumExpectedValue(Duration.ofNanos(10_000))
                .maximumExpectedValue(Duration.ofSeconds(10)).register(registry);
        // registered up front so that the series exist (at 0) before the first swap or request
        for (String kind : new String[] {"generator", "logits-processor", "token-selector", "model-backend",
                "tokenizer", "post-processor", "pipeline-config"}) {
            swapCounter(kind);
        }
    }

    void requestStarted() {
        active.incrementAndGet();
    }

    /**
     * One finished request: {@code endpoint} is one of the server's fixed route names. It leaves the active gauge
     * only after it is counted, so an active count of zero means every answered request is in the counters.
     */
    void requestFinished(String endpoint, String requestedPipeline, int status, long nanos) {
        String pipeline = NO_PIPELINE.equals(requestedPipeline) ? NO_PIPELINE : labels.pipeline(requestedPipeline);
        Counter.builder(REQUESTS).description("HTTP requests answered").tag("endpoint", endpoint)
                .tag("pipeline", pipeline).tag("status", Integer.toString(status)).register(registry).increment();
        Timer.builder(LATENCY).description("time from receiving a request to its last byte")
                .tag("endpoint", endpoint).tag("pipeline", pipeline).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(5))
                .register(registry).record(nanos, TimeUnit.NANOSECONDS);
        active.decrementAndGet();
    }

    /** Requests being handled now (started, not yet counted as finished). */
    int active() {
        return active.get();
    }

    void generated(String requestedPipeline, int tokens, long timeToFirstTokenNanos) {
        String pipeline = labels.pipeline(requestedPipeline);
        Counter.builder(TOKENS).description("tokens generated").tag("pipeline", pipeline).register(registry)
                .increment(tokens);
        Timer.builder(TTFT).description("time from a request's start to its first generated token")
                .tag("pipeline", pipeline).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofMinutes(1))
                .register(registry).record(timeToFirstTokenNanos, TimeUnit.NANOSECONDS);
    }

    /** Speculative strategies' drafted and accepted tokens and verification steps, by pipeline and generator. */
    void strategy(String requestedPipeline, StrategyUsage usage) {
        if (!usage.speculative()) {
            return;
        }
        String pipeline = labels.pipeline(requestedPipeline);
        String generator = labels.generator(usage.generator());
        Counter.builder(SPECULATIVE_DRAFTED).description("draft tokens proposed to the target")
                .tag("pipeline", pipeline).tag("generator", generator).register(registry)
                .increment(usage.drafted());
        Counter.builder(SPECULATIVE_ACCEPTED).description("draft tokens the target accepted")
                .tag("pipeline", pipeline).tag("generator", generator).register(registry)
                .increment(usage.accepted());
        Counter.builder(SPECULATIVE_STEPS).description("verification forwards of the target")
                .tag("pipeline", pipeline).tag("generator", generator).register(registry)
                .increment(usage.steps());
    }

    void swap(String kind) {
        swapCounter(kind).increment();
    }

    private Counter swapCounter(String kind) {
        return Counter.builder(SWAPS)
                .description("part services registered or unregistered, and pipeline configurations changed")
                .tag("kind", kind).register(registry);
    }

    /** Registers the gauge of worker threads still running a request's work. */
    void trackWorkers(IntSupplier running) {
        // strong: Micrometer holds gauge state weakly, and a method reference has no other owner
        Gauge.builder(RUNNING_WORKERS, running, IntSupplier::getAsInt).strongReference(true)
                .description("worker threads still running a request's work, cancelled and abandoned ones included")
                .register(registry);
    }

    /** Feeds the batching meters; registered as a service so that every backend's step scheduler reports here. */
    StepCoalescer.Observer batchObserver() {
        return (steps, rows, queueWaitNanos) -> {
            batchSize.record(steps);
            for (long wait : queueWaitNanos) {
                queueWait.record(wait, TimeUnit.NANOSECONDS);
            }
        };
    }

    void abandoned() {
        abandoned.increment();
    }

    /** Prometheus text exposition format 0.0.4. */
    String scrape() {
        return registry.scrape();
    }

    static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    void close() {
        registry.close();
    }
}
