package dev.arbor.benchmarks;

import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.launcher.ArborFramework;
import dev.arbor.tests.serving.HttpEndpoints;
import dev.arbor.tests.serving.LoadGenerator;
import dev.arbor.tests.serving.LoadReport;
import dev.arbor.tests.serving.RequestResult;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Serving throughput and latency over the OpenAI-compatible HTTP API on stories260K, at several concurrency levels,
 * without and with strategy swaps during the run (the full version of {@code SwapUnderLoadIT}).
 *
 * <p>The assembled distribution runs in this JVM inside Felix with its HTTP server on an ephemeral loopback port;
 * {@link LoadGenerator} drives it with streaming completions at temperature 0 and validates every stream (any
 * failed, truncated or malformed response is counted, and every text must equal one of the strategies' reference
 * outputs). Each concurrency level runs {@code rounds} times "no swaps" then "swaps", interleaved so that both see
 * the same machine state; the swap run switches the pipeline's generator {@code swaps} times, evenly spread over a
 * duration estimated from the preceding no-swap run, between {@code autoregressive} and {@code beam-search} with
 * {@code num_beams} = {@code beams}. With {@code beams} = 1 beam search decodes the same greedy sequence with the
 * same number of forward passes, so the two runs do the same work and the difference is what swapping costs; with
 * 2 the swap run also pays for beam search's extra work on the requests it serves. With {@code beams} = 0 the swaps
 * alternate between two definitions of the same {@code autoregressive} generator (options differing only by a key
 * nothing reads): every swap is a real reconfiguration through Config Admin, and the work per request is identical.
 *
 * <p>Percentiles are nearest-rank over the successful requests of all rounds of a mode.
 *
 * <pre>java @argfile dev.arbor.benchmarks.ServingBenchmark DIST MODELS [requests] [max_tokens] [swaps] [rounds]
 *     [beams] [concurrency,...]</pre>
 */
public final class ServingBenchmark {
    private static final String PIPELINE = "stories260k";
    private static final List<String> PROMPTS = List.of("Once upon a time", "Lily and Ben", "The dog");

    private ServingBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path dist = Path.of(args.length > 0 ? args[0] : "distribution/target/arbor").toAbsolutePath();
        Path models = Path.of(args.length > 1 ? args[1] : "../shared/models").toAbsolutePath().normalize();
        int requests = args.length > 2 ? Integer.parseInt(args[2]) : 400;
        int maxTokens = args.length > 3 ? Integer.parseInt(args[3]) : 64;
        int swaps = args.length > 4 ? Integer.parseInt(args[4]) : 50;
        int rounds = args.length > 5 ? Integer.parseInt(args[5]) : 2;
        int beams = args.length > 6 ? Integer.parseInt(args[6]) : 1;
        int[] levels = args.length > 7 ? java.util.Arrays.stream(args[7].split(",")).mapToInt(Integer::parseInt)
                .toArray() : new int[] {1, 4, 16};
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.offline", "true");

        Path cache = Files.createTempDirectory("arbor-bench-cache");
        System.setProperty("arbor.cache", cache.toString());
        Path home = Files.createTempDirectory("arbor-bench-home");
        Files.createDirectories(home.resolve("etc/pipelines"));
        Files.createSymbolicLink(home.resolve("bundles"), dist.resolve("bundles"));
        Files.copy(dist.resolve("etc/pipelines/stories260k.json"), home.resolve("etc/pipelines/stories260k.json"));
        String api = BenchmarkRuntime.API_PACKAGES;
        try (ArborFramework runtime = ArborFramework.start(home, null, Map.of(
                "org.osgi.framework.system.packages.extra", api, "arbor.launcher.skip", "arbor-api\\.jar",
                "arbor.models", models.toString(), "arbor.cache", cache.toString(), "arbor.etc.poll.ms", "0"))) {
            PipelineService pipelines = BenchmarkRuntime.awaitReady(runtime, PIPELINE);
            PipelineDefinition original = pipelines.status(PIPELINE).orElseThrow().definition();
            PartRef autoregressive = original.generator();
            // beams = 0: swap between two definitions that do identical work (the same generator; the options differ
            // only by a key no generator reads), so the swap run measures what swapping itself costs
            PartRef beam = beams == 0
                    ? new PartRef(autoregressive.name(), autoregressive.options().with("swap_marker", "b"))
                    : new PartRef("beam-search", Options.of(Map.of("num_beams", beams)));

            // every streamed text must be one of the two strategies' answers
            Options greedy = Options.of(Map.of("temperature", 0, "max_tokens", maxTokens));
            Map<String, Set<String>> expected = new java.util.HashMap<>();
            for (String prompt : PROMPTS) {
                String a = pipelines.complete(CompletionRequest.text(PIPELINE, prompt, greedy), TextSink.DISCARD)
                        .text();
                String b = beams == 0 ? a : pipelines.complete(new CompletionRequest(PIPELINE, prompt, null,
                        List.of(), beam, null, greedy), TextSink.DISCARD).text();
                expected.put(prompt, Set.copyOf(List.of(a, b)));   // one text when beams = 1 (greedy)
            }

            HttpEndpoints.configure(runtime.context(), Map.of("host", "127.0.0.1", "port", 0));
            URI uri = HttpEndpoints.await(runtime.context(), Duration.ofSeconds(30));
            System.out.printf("date %s; %s on %s; %d requests of %d tokens per run, temperature 0, %d rounds per mode;"
                            + " swaps: %d per run between %s %s and %s %s%n", LocalDate.now(), PIPELINE,
                    uri, requests, maxTokens, rounds, swaps, autoregressive.name(), autoregressive.options(),
                    beam.name(), beam.options());

            LoadGenerator.Config base = LoadGenerator.Config.of(uri, PIPELINE, PROMPTS, maxTokens, 1)
                    .withExpectedTexts(expected).withRequestTimeout(Duration.ofSeconds(120));
            List<String> rows = new ArrayList<>();
            boolean goalMet = true;
            for (int concurrency : levels) {
                try (LoadGenerator load = new LoadGenerator(base.withConcurrency(concurrency))) {
                    load.run(Math.max(50, 8L * concurrency), Duration.ofMinutes(2));   // warm-up: JIT, connections
                    List<LoadReport> plain = new ArrayList<>();
                    List<LoadReport> swapped = new ArrayList<>();
                    int swapsDone = 0;
                    for (int r = 0; r < rounds; r++) {
                        pipelines.define(original);
                        LoadReport none = load.run(requests, Duration.ofMinutes(5));
                        plain.add(none);
                        System.out.printf("  c=%d round %d no swaps: %s%n", concurrency, r, none.summary());
                        Swapper swapper = new Swapper(pipelines, original, autoregressive, beam, swaps,
                                Duration.ofNanos((long) (none.wallNanos() * 0.6 / swaps)));   // done well before the load ends
                        swapper.start();
                        LoadReport with = load.run(requests, Duration.ofMinutes(5));
                        swapper.finish();
                        swapped.add(with);
                        swapsDone += swapper.done.get();
                        System.out.printf("  c=%d round %d %d swaps: %s%n", concurrency, r, swapper.done.get(),
                                with.summary());
                    }
                    pipelines.define(original);
                    LoadReport p = merge(plain, concurrency);
                    LoadReport s = merge(swapped, concurrency);
                    double ratio = s.latencyMillis(99) / p.latencyMillis(99);
                    boolean met = ratio <= 1.10 && s.ok() == s.results().size() && p.ok() == p.results().size()
                            && swapsDone == swaps * rounds;
                    goalMet &= met;
                    rows.add(row(concurrency, "none", p, 1.0));
                    rows.add(row(concurrency, swapsDone / rounds + " per run", s, ratio));
                }
            }
            System.out.println();
            System.out.println("| concurrency | swaps | requests | failed / truncated / malformed | tokens/s | requests/s"
                    + " | latency p50 (ms) | latency p99 (ms) | first token p50 (ms) | p99 vs no swaps |");
            System.out.println("|---|---|---|---|---|---|---|---|---|---|");
            rows.forEach(System.out::println);
            System.out.println("goal (p99 with swaps within 10% of without, zero failures, all swaps done): "
                    + (goalMet ? "MET" : "NOT MET"));
        }
    }

    private static String row(int concurrency, String swaps, LoadReport r, double ratio) {
        return String.format(Locale.ROOT, "| %d | %s | %d | %d / %d / %d | %.0f | %.1f | %.1f | %.1f | %.1f | %.3f |",
                concurrency, swaps, r.results().size(), r.failed(), r.truncated(), r.malformed(), r.tokensPerSecond(),
                r.requestsPerSecond(), r.latencyMillis(50), r.latencyMillis(99), r.timeToFirstTokenMillis(50), ratio);
    }

    /** The rounds of one mode as one report: all results, wall time summed (rounds ran one after another). */
    private static LoadReport merge(List<LoadReport> reports, int concurrency) {
        List<RequestResult> all = new ArrayList<>();
        long wall = 0;
        int maxInFlight = 0;
        for (LoadReport r : reports) {
            all.addAll(r.results());
            wall += r.wallNanos();
            maxInFlight = Math.max(maxInFlight, r.maxInFlight());
        }
        return new LoadReport(all, wall, concurrency, maxInFlight);
    }

    /**
     * Switches the pipeline's generator {@code count} times, one every {@code interval}, alternating starting with
     * beam search. {@code define} returns once the pipeline uses the new definition, so a counted swap is a
     * completed one.
     */
    private static final class Swapper extends Thread {
        private final PipelineService pipelines;
        private final PipelineDefinition original;
        private final PartRef first;
        private final PartRef second;
        private final int count;
        private final long intervalNanos;
        private final AtomicBoolean stop = new AtomicBoolean();
        final AtomicInteger done = new AtomicInteger();
        private volatile Throwable failure;

        Swapper(PipelineService pipelines, PipelineDefinition original, PartRef autoregressive, PartRef beam,
                int count, Duration interval) {
            super("swapper");
            this.pipelines = pipelines;
            this.original = original;
            this.first = beam;
            this.second = autoregressive;
            this.count = count;
            this.intervalNanos = interval.toNanos();
            setDaemon(true);
        }

        @Override
        public void run() {
            long start = System.nanoTime();
            try {
                for (int i = 0; i < count && !stop.get(); i++) {
                    long wait = start + (i + 1) * intervalNanos - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    }
                    if (stop.get()) {
                        break;   // the load ended first: a swap now would not be "during the run"
                    }
                    pipelines.define(original.withGenerator(i % 2 == 0 ? first : second));
                    done.incrementAndGet();
                }
            } catch (Throwable t) {
                failure = t;
            }
        }

        void finish() throws InterruptedException {
            stop.set(true);
            join();
            if (failure != null) {
                throw new IllegalStateException("strategy swap failed", failure);
            }
        }
    }
}
