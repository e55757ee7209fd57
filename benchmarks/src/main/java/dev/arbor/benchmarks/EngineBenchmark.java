package dev.arbor.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.benchmarks.engine.AllocationMeter;
import dev.arbor.benchmarks.engine.Peers;
import dev.arbor.benchmarks.engine.Samples;
import dev.arbor.benchmarks.engine.Variant;
import dev.arbor.benchmarks.plot.SvgChart;
import dev.arbor.launcher.ArborFramework;
import dev.arbor.models.llama2c.Llama2cOnnxConverter;
import dev.arbor.models.llama2c.Llama2cPrecision;
import dev.arbor.tests.serving.HttpEndpoints;
import dev.arbor.tests.serving.LoadGenerator;
import dev.arbor.tests.serving.LoadReport;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Arbor's decode engine against its peers, side by side in one run: for stories260K and a random-weight llama of
 * stories15M's shape (written by {@code RandomLlama2cCheckpoint}),
 * <ol>
 *   <li>single-stream greedy decode tokens/s over a fixed number of tokens from BOS, and time to first token, for
 *       every Arbor variant (model options such as {@code precision}, {@code graph}, {@code intra_op_threads}),
 *       the minimal ONNX Runtime loop ({@link MinimalOrtLoop}) on the reference graph with the same thread counts,
 *       llama2.c's run.c (1 thread; OpenMP, 2 threads) and llama.cpp's llama-bench (F32, Q8_0, Q4_0 at 1 and 2
 *       threads), interleaved round by round so all see the same machine state; every peer is reported as the ratio
 *       of the matching Arbor variant (same precision, same threads) to it;</li>
 *   <li>heap bytes allocated per generated token in steady state, per Arbor variant and for the minimal loop:
 *       allocation of an N-token request minus that of an N/2-token request, over N/2 (the difference removes
 *       per-request costs), the minimum of three tries;</li>
 *   <li>serving: aggregate tokens/s and p50/p99 latency at several concurrency levels over the OpenAI-compatible
 *       HTTP API, driven by {@code tests/serving}'s {@link LoadGenerator} (the path users take, so queueing and
 *       streaming are included).</li>
 * </ol>
 * Peers run as subprocesses given by path; one that is absent is reported "not measured". Writes
 * {@code engine.md} (tables ready for BENCHMARKS.md), {@code engine-tokens.svg} and {@code engine-concurrency.svg}
 * to {@code out}. Arguments are {@code key=value}; see {@link #USAGE}.
 */
public final class EngineBenchmark {
    static final String USAGE = """
            EngineBenchmark [key=value ...]
              dist=DIR            assembled distribution (distribution/target/arbor)
              models=DIR          holds stories260K/stories260K.bin and tok512.bin (../shared/models)
              random15m=FILE      random llama2.c checkpoint of stories15M's shape (optional)
              tokenizer32k=FILE   llama2.c's 32000-token tokenizer.bin for it (PEERS/tokenizer.bin)
              peers=DIR           scratch folder of build-peers: run, runomp, llama.cpp/build/bin/llama-bench, gguf/
              run=FILE runomp=FILE llama-bench=FILE gguf=DIR   override single peer paths
              variants=LIST       name:key=value;key=value,...  (default: ref-, fused-, int8-, int4- each -t1 and -t2,
                                  i.e. reference, fused fp32, int8, int4 at 1 and 2 ONNX Runtime threads)
              tokens=N            tokens per single-stream request (200)
              rounds=N warmup=N   measured and warm-up rounds (5, 2)
              concurrency=LIST    serving levels (1,4,16,64); serving-tokens=N (64); serving-requests=N per client (4)
              serving-models=LIST stories260K[,random15m] (stories260K); serving-variant=NAME (the first variant)
              out=DIR             engine.md and the SVG plots (benchmarks/target/engine)
            """;
    /** Every graph and precision at one and two ONNX Runtime threads (the peers' thread counts). */
    static final String DEFAULT_VARIANTS = "ref-t1:intra_op_threads=1,ref-t2:intra_op_threads=2,"
            + "fused-t1:graph=fused;intra_op_threads=1,fused-t2:graph=fused;intra_op_threads=2,"
            + "int8-t1:precision=int8;intra_op_threads=1,int8-t2:precision=int8;intra_op_threads=2,"
            + "int4-t1:precision=int4;intra_op_threads=1,int4-t2:precision=int4;intra_op_threads=2";
    private static final List<String> PROMPTS = List.of("Once upon a time", "Lily and Ben", "The dog");
    private static final int GOAL_BYTES_PER_TOKEN = 1024;
    private static final int LLAMA2C_RUNS_PER_ROUND = 3;

    /** A model under test: its key in tables and pipeline names, checkpoint, tokenizer and GGUF base name. */
    private record Model(String key, String label, Path checkpoint, Path tokenizer) {
    }

    /** What runs a row. */
    private enum Kind { ARBOR, MINIMAL_LOOP, LLAMA2C, LLAMACPP }

    /** One line of the single-stream table. */
    private static final class Row {
        final Model model;
        final Kind kind;
        final String engine;            // the label in tables
        final String precision;
        final int threads;              // 0: the engine's default
        final Variant variant;          // Arbor rows only
        final String graph;             // reference | fused for Arbor and minimal-loop rows, null for peers
        final Samples tokensPerSecond = new Samples();
        final Samples firstTokenMillis = new Samples();
        int[] ids;                      // last greedy sequence (Arbor and minimal loop)
        String failure;                 // why the row could not run (e.g. a graph the backend does not run yet)
        String ggufType;                // llama.cpp rows: F32, Q8_0 or Q4_0

        Row(Model model, Kind kind, String engine, String precision, int threads, Variant variant, String graph) {
            this.model = model;
            this.kind = kind;
            this.engine = engine;
            this.precision = precision;
            this.threads = threads;
            this.variant = variant;
            this.graph = graph;
        }

        boolean minimal() {
            return kind == Kind.MINIMAL_LOOP;
        }

        boolean arbor() {
            return kind == Kind.ARBOR;
        }
    }

    private EngineBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        try {
            run(args);
        } catch (ArborException e) {
            // a usage or set-up error the user can act on: the message, not a stack trace
            System.err.println("EngineBenchmark: " + e.getMessage());
            System.exit(2);
        }
    }

    private static void run(String[] args) throws Exception {
        Map<String, String> a = arguments(args);
        Path dist = Path.of(a.getOrDefault("dist", "distribution/target/arbor")).toAbsolutePath();
        Path models = Path.of(a.getOrDefault("models", "../shared/models")).toAbsolutePath().normalize();
        Path peers = a.containsKey("peers") ? Path.of(a.get("peers")).toAbsolutePath() : null;
        Path run = peerPath(a, "run", peers, "run");
        Path runomp = peerPath(a, "runomp", peers, "runomp");
        Path llamaBench = peerPath(a, "llama-bench", peers, "llama.cpp/build/bin/llama-bench");
        Path gguf = peerPath(a, "gguf", peers, "gguf");
        Path tokenizer32k = peerPath(a, "tokenizer32k", peers, "tokenizer.bin");
        List<Variant> variants = Variant.parseList(a.getOrDefault("variants", DEFAULT_VARIANTS));
        int tokens = integer(a, "tokens", 200);
        int rounds = integer(a, "rounds", 5);
        int warmup = integer(a, "warmup", 2);
        int[] levels = Arrays.stream(a.getOrDefault("concurrency", "1,4,16,64").split(","))
                .mapToInt(s -> Integer.parseInt(s.trim())).toArray();
        int servingTokens = integer(a, "serving-tokens", 64);
        int servingRequests = integer(a, "serving-requests", 4);
        Set<String> servingModels = new LinkedHashSet<>(List.of(a.getOrDefault("serving-models", "stories260K")
                .split(",")));
        String servingVariant = a.getOrDefault("serving-variant", variants.get(0).name());
        Path out = Path.of(a.getOrDefault("out", "benchmarks/target/engine")).toAbsolutePath();
        if (variants.stream().noneMatch(v -> v.name().equals(servingVariant))) {
            throw ArborException.invalid("serving-variant '" + servingVariant + "' is not one of the variants");
        }
        if (tokens < 2) {
            throw ArborException.invalid("tokens must be at least 2 (decode speed is timed from the second token)");
        }
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.offline", "true");

        List<Model> modelList = new ArrayList<>();
        modelList.add(new Model("stories260K", "stories260K", models.resolve("stories260K/stories260K.bin"),
                models.resolve("stories260K/tok512.bin")));
        if (a.containsKey("random15m")) {
            Path ck = Path.of(a.get("random15m")).toAbsolutePath();
            if (tokenizer32k == null || !Files.isRegularFile(tokenizer32k)) {
                throw ArborException.invalid("random15m needs tokenizer32k=FILE (llama2.c's 32000-token tokenizer.bin)"
                        + " or peers=DIR holding it");
            }
            modelList.add(new Model("random15m", "random llama, stories15M shape", ck, tokenizer32k));
        }
        for (Model m : modelList) {
            if (!Files.isRegularFile(m.checkpoint()) || !Files.isRegularFile(m.tokenizer())) {
                throw ArborException.invalid("model " + m.key() + ": " + m.checkpoint() + " or " + m.tokenizer()
                        + " does not exist");
            }
        }

        Path cache = Files.createTempDirectory("arbor-bench-cache");
        System.setProperty("arbor.cache", cache.toString());
        Path home = Files.createTempDirectory("arbor-bench-home");
        Files.createDirectories(home.resolve("etc/pipelines"));
        Files.createSymbolicLink(home.resolve("bundles"), dist.resolve("bundles"));
        for (Model m : modelList) {
            for (Variant v : variants) {
                writePipeline(home, m, v);
            }
        }
        String header = header(tokens, rounds, warmup);
        System.out.println(header);

        List<Row> rows = new ArrayList<>();
        Map<Row, GreedyLoop> minimalLoops = new LinkedHashMap<>();
        StringBuilder md = new StringBuilder(header).append("\n\n");
        try (ArborFramework runtime = ArborFramework.start(home, null, Map.of(
                "org.osgi.framework.system.packages.extra", BenchmarkRuntime.API_AND_ONNXRUNTIME,
                "arbor.launcher.skip", "arbor-api\\.jar|arbor-onnxruntime-runtime\\.jar",
                "arbor.models", models.toString(), "arbor.cache", cache.toString(), "arbor.etc.poll.ms", "0"))) {
            PipelineService pipelines = null;
            for (Model m : modelList) {
                for (Variant v : variants) {
                    pipelines = BenchmarkRuntime.awaitReady(runtime, pipelineName(m, v));
                    rows.add(new Row(m, Kind.ARBOR, "Arbor " + v.name(), v.precision(), v.threads(), v, v.graph()));
                }
                // the hand-written loop on each graph, precision and thread count a variant uses
                Set<List<Object>> loops = new LinkedHashSet<>();
                variants.forEach(v -> loops.add(List.of(v.graph(), v.precision(), v.threads())));
                for (List<Object> key : loops) {
                    String graph = (String) key.get(0);
                    String precision = (String) key.get(1);
                    int t = (Integer) key.get(2);
                    Row row = new Row(m, Kind.MINIMAL_LOOP, "minimal ONNX Runtime loop", precision, t, null, graph);
                    rows.add(row);
                    try {
                        Path onnx = Llama2cOnnxConverter.convertCached(m.checkpoint(), 0, cache,
                                Llama2cPrecision.of(graph, precision));
                        minimalLoops.put(row, graph.equals("fused") ? new MinimalFusedOrtLoop(onnx, t)
                                : new MinimalOrtLoop(onnx, t));
                    } catch (Exception e) {
                        row.failure = firstLine(e);
                    }
                }
            }
            List<Row> peerRows = peerRows(modelList);
            rows.addAll(peerRows);
            rows.sort(java.util.Comparator.comparingInt(r -> modelList.indexOf(r.model)));   // stable: by model

            singleStream(pipelines, rows, minimalLoops, peerRows, run, runomp, llamaBench, gguf, tokens, rounds,
                    warmup);
            md.append(singleStreamTable(rows, tokens)).append('\n');
            List<String> goalLines = new ArrayList<>();
            md.append(allocationTable(pipelines, rows, minimalLoops, tokens, goalLines)).append('\n');
            for (GreedyLoop loop : minimalLoops.values()) {
                loop.close();
            }

            HttpEndpoints.configure(runtime.context(), Map.of("host", "127.0.0.1", "port", 0));
            URI uri = HttpEndpoints.await(runtime.context(), Duration.ofSeconds(30));
            Variant sv = variants.stream().filter(v -> v.name().equals(servingVariant)).findFirst().orElseThrow();
            List<SvgChart.LinePanel> servingPanels = new ArrayList<>();
            Set<String> servable = new LinkedHashSet<>();
            for (Row row : rows) {
                if (row.arbor() && row.variant == sv && row.failure == null && servingModels.contains(row.model.key())) {
                    servable.add(row.model.key());
                }
            }
            md.append(servingTable(uri, modelList, servable, sv, levels, servingTokens, servingRequests,
                    servingPanels, goalLines)).append('\n');

            md.append(goals(rows, goalLines)).append('\n').append(loadNote()).append('\n');
            Files.createDirectories(out);
            Files.writeString(out.resolve("engine.md"), md);
            SvgChart.bars("Greedy decode tokens/s, one stream (" + tokens + " tokens, median of " + rounds
                    + " rounds)", "tokens/s", barPanels(rows, modelList), out.resolve("engine-tokens.svg"));
            if (!servingPanels.isEmpty()) {
                SvgChart.lines("Aggregate tokens/s against concurrency (HTTP, " + servingTokens + " tokens each)",
                        "concurrent streams", "tokens/s", servingPanels, out.resolve("engine-concurrency.svg"));
            }
            System.out.println();
            System.out.println(md);
            System.out.println("wrote " + out.resolve("engine.md") + ", engine-tokens.svg, engine-concurrency.svg");
        }
    }

    /** Rounds of every Arbor variant, minimal loop and peer, interleaved; peers are skipped in warm-up rounds. */
    private static void singleStream(PipelineService pipelines, List<Row> rows, Map<Row, GreedyLoop> loops,
                                     List<Row> peerRows, Path run, Path runomp, Path llamaBench, Path gguf,
                                     int tokens, int rounds, int warmup) throws Exception {
        for (int r = -warmup; r < rounds; r++) {
            boolean measured = r >= 0;
            for (Row row : rows) {
                if (row.failure != null) {
                    continue;
                }
                if (row.arbor()) {
                    Completion c;
                    try {
                        c = pipelines.complete(greedy(pipelineName(row.model, row.variant), tokens),
                                TextSink.DISCARD);
                    } catch (RuntimeException e) {
                        // a variant the installed backend cannot run (yet) is reported, and the others go on
                        row.failure = firstLine(e);
                        System.out.println(row.model.key() + " " + row.engine + ": " + row.failure);
                        continue;
                    }
                    if (c.tokens().length != tokens) {
                        row.failure = "stopped after " + c.tokens().length + " of " + tokens + " tokens ("
                                + c.finishReason() + "); the comparison needs the fixed length";
                        System.out.println(row.model.key() + " " + row.engine + ": " + row.failure);
                        continue;
                    }
                    row.ids = c.tokens();
                    if (measured) {
                        row.tokensPerSecond.add(decodeRate(tokens, c.timeToFirstTokenNanos(), c.totalNanos()));
                        row.firstTokenMillis.add(c.timeToFirstTokenNanos() / 1e6);
                    }
                } else if (loops.containsKey(row)) {
                    int[] ids = new int[tokens];
                    long[] t;
                    try {
                        t = loops.get(row).run(1, ids);
                    } catch (Exception e) {
                        row.failure = firstLine(e);
                        System.out.println(row.model.key() + " " + row.engine + ": " + row.failure);
                        continue;
                    }
                    row.ids = ids;
                    if (measured) {
                        row.tokensPerSecond.add(decodeRate(tokens, t[0], t[1]));
                        row.firstTokenMillis.add(t[0] / 1e6);
                    }
                }
            }
            if (measured) {
                measurePeers(peerRows, run, runomp, llamaBench, gguf, tokens);
            }
            System.out.printf(Locale.ROOT, "round %d done%n", r);
        }
    }

    private static void measurePeers(List<Row> peerRows, Path run, Path runomp, Path llamaBench, Path gguf,
                                     int tokens) throws Exception {
        Map<String, Map<Integer, Double>> benchByFile = new LinkedHashMap<>();
        for (Row row : peerRows) {
            Double tps;
            if (row.kind == Kind.LLAMA2C) {
                // run.c times in whole milliseconds: on stories260K (~10 ms per run) one run is a coarse figure, so
                // each round takes several runs as samples
                boolean omp = row.threads > 1;
                for (int i = 0; i < LLAMA2C_RUNS_PER_ROUND; i++) {
                    Double one = Peers.llama2c(omp ? runomp : run, row.threads, row.model.checkpoint(),
                            row.model.tokenizer(), tokens);
                    if (one != null) {
                        row.tokensPerSecond.add(one);
                    }
                }
                continue;
            } else if (gguf != null) {
                Path file = gguf.resolve(ggufName(row.model, row.ggufType));
                // one llama-bench call measures both thread counts of a file
                Map<Integer, Double> byThreads = benchByFile.get(file.toString());
                if (byThreads == null) {
                    byThreads = Peers.llamaBench(llamaBench, file, tokens, new int[] {1, 2});
                    benchByFile.put(file.toString(), byThreads);
                }
                tps = byThreads.get(row.threads);
            } else {
                tps = null;
            }
            if (tps != null) {
                row.tokensPerSecond.add(tps);
            }
        }
    }

    /** Peer rows of every model, in table order (filled only where the binaries and files exist). */
    private static List<Row> peerRows(List<Model> models) {
        List<Row> rows = new ArrayList<>();
        for (Model m : models) {
            rows.add(new Row(m, Kind.LLAMA2C, "llama2.c run.c", "fp32", 1, null, null));
            rows.add(new Row(m, Kind.LLAMA2C, "llama2.c run.c (OpenMP)", "fp32", 2, null, null));
            for (String[] q : new String[][] {{"F32", "fp32"}, {"Q8_0", "int8"}, {"Q4_0", "int4"}}) {
                for (int t : new int[] {1, 2}) {
                    Row row = new Row(m, Kind.LLAMACPP, "llama.cpp " + q[0], q[1], t, null, null);
                    row.ggufType = q[0];
                    rows.add(row);
                }
            }
        }
        return rows;
    }

    /** {@code engine-bench.sh}'s naming: the checkpoint's base name, then -f32, -Q8_0 or -Q4_0. */
    private static String ggufName(Model m, String q) {
        return m.checkpoint().getFileName().toString().replaceFirst("\\.bin$", "")
                + "-" + (q.equals("F32") ? "f32" : q) + ".gguf";
    }

    private static String singleStreamTable(List<Row> rows, int tokens) {
        StringBuilder s = new StringBuilder();
        s.append("Single stream, greedy from BOS, ").append(tokens).append(" tokens; decode tokens/s counts tokens 2..N")
                .append(" over their time (all engines time it so); medians over rounds (run.c: ")
                .append(LLAMA2C_RUNS_PER_ROUND).append(" runs per round, it times in whole ms), min–max in brackets.")
                .append(" Arbor / this: the fastest Arbor variant of the same precision and threads (for a minimal")
                .append(" loop: on the same graph) over the row. Greedy agreement: common prefix with the reference")
                .append(" graph's ids.\n\n");
        s.append("| model | engine | graph | precision | threads | decode tokens/s | first token (ms) | Arbor / this |"
                + " same greedy tokens as the reference |\n");
        s.append("|---|---|---|---|---|---|---|---|---|\n");
        for (Row row : rows) {
            String tps = row.failure != null ? "not runnable: " + row.failure.replace("|", "/")
                    : row.tokensPerSecond.isEmpty() ? "not measured" : String.format(Locale.ROOT,
                    "%,.0f (%,.0f–%,.0f)", row.tokensPerSecond.median(), row.tokensPerSecond.min(),
                    row.tokensPerSecond.max());
            String ttft = row.firstTokenMillis.isEmpty() ? "—"
                    : String.format(Locale.ROOT, "%.2f", row.firstTokenMillis.median());
            String ratio = "—";
            Row arbor = row.arbor() ? null : matchingArbor(rows, row);
            if (arbor != null && !row.tokensPerSecond.isEmpty() && !arbor.tokensPerSecond.isEmpty()) {
                ratio = String.format(Locale.ROOT, "**%.2f** (%s)", arbor.tokensPerSecond.median()
                        / row.tokensPerSecond.median(), arbor.variant.name());
            }
            s.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |%n",
                    row.model.key(), row.engine, row.graph == null ? "—" : row.graph, row.precision, row.threads == 0 ? "default" : String.valueOf(row.threads), tps, ttft,
                    ratio, agreement(rows, row)));
        }
        return s.toString();
    }

    /**
     * The Arbor variant a row is compared with: for a minimal loop the variant on the same graph, precision and
     * threads; for a peer the fastest measured variant of the same precision and threads, else of the same precision
     * at ONNX Runtime's default thread count.
     */
    private static Row matchingArbor(List<Row> rows, Row peer) {
        Row best = null;
        Row fallback = null;
        for (Row r : rows) {
            if (!r.arbor() || r.model != peer.model || !r.precision.equals(peer.precision)
                    || r.tokensPerSecond.isEmpty() || (peer.minimal() && !r.graph.equals(peer.graph))) {
                continue;
            }
            if (r.threads == peer.threads) {
                if (best == null || r.tokensPerSecond.median() > best.tokensPerSecond.median()) {
                    best = r;
                }
            } else if (r.threads == 0 && !peer.minimal()
                    && (fallback == null || r.tokensPerSecond.median() > fallback.tokensPerSecond.median())) {
                fallback = r;
            }
        }
        return best != null ? best : fallback;
    }

    /** Length of the common prefix of this row's greedy ids with the first reference-graph sequence of its model. */
    private static String agreement(List<Row> rows, Row row) {
        if (row.ids == null) {
            return "—";
        }
        int[] reference = null;
        for (Row r : rows) {
            if (r.model == row.model && r.ids != null && "reference".equals(r.graph)) {
                reference = r.ids;
                break;
            }
        }
        if (reference == null) {
            return "—";
        }
        int n = 0;
        while (n < Math.min(reference.length, row.ids.length) && reference[n] == row.ids[n]) {
            n++;
        }
        return n == reference.length && n == row.ids.length ? "all " + n : "first " + n + " of " + reference.length;
    }

    /** Steady-state heap allocation per token: (bytes(N) - bytes(N/2)) / (N - N/2), the least of three tries. */
    private static String allocationTable(PipelineService pipelines, List<Row> rows, Map<Row, GreedyLoop> loops,
                                          int tokens, List<String> goalLines) throws Exception {
        AllocationMeter meter = new AllocationMeter();
        int half = tokens / 2;
        StringBuilder s = new StringBuilder();
        s.append("Heap allocated per generated token in steady state, all JVM threads (HotSpot per-thread counters):"
                + " (bytes of a ").append(tokens).append("-token request − bytes of a ").append(half)
                .append("-token request) / ").append(tokens - half).append(", least of 3 tries. Goal: under ")
                .append(GOAL_BYTES_PER_TOKEN).append(" bytes for the decode loop.\n\n");
        s.append("| model | engine | bytes per token | under the goal |\n|---|---|---|---|\n");
        for (Row row : rows) {
            if ((!row.arbor() && !loops.containsKey(row)) || row.failure != null) {
                continue;
            }
            double best = Double.MAX_VALUE;
            for (int i = 0; i < 3; i++) {
                long full = allocated(meter, pipelines, loops, row, tokens);
                long part = allocated(meter, pipelines, loops, row, half);
                best = Math.min(best, (full - part) / (double) (tokens - half));
            }
            s.append(String.format(Locale.ROOT, "| %s | %s (%s %s%s) | %,.0f | %s |%n", row.model.key(), row.engine,
                    row.graph, row.precision, row.threads == 0 ? "" : ", " + row.threads + " thr", best,
                    best < GOAL_BYTES_PER_TOKEN ? "yes" : "no"));
            if (row.arbor()) {
                goalLines.add(String.format(Locale.ROOT, "- %s: Arbor %s allocates %,.0f bytes per token, goal < %d:"
                        + " %s", row.model.key(), row.variant.name(), best, GOAL_BYTES_PER_TOKEN,
                        best < GOAL_BYTES_PER_TOKEN ? "met" : "not met"));
            }
        }
        return s.toString();
    }

    private static long allocated(AllocationMeter meter, PipelineService pipelines, Map<Row, GreedyLoop> loops,
                                  Row row, int n) throws Exception {
        if (row.arbor()) {
            CompletionRequest request = greedy(pipelineName(row.model, row.variant), n);
            meter.start();
            pipelines.complete(request, TextSink.DISCARD);
            return meter.bytesSinceStart();
        }
        int[] ids = new int[n];
        meter.start();
        loops.get(row).run(1, ids);
        return meter.bytesSinceStart();
    }

    /** Aggregate tokens/s and latency percentiles at each concurrency level, over HTTP. */
    private static String servingTable(URI uri, List<Model> models, Set<String> servingModels, Variant variant,
                                       int[] levels, int maxTokens, int perClient, List<SvgChart.LinePanel> panels,
                                       List<String> goalLines) throws Exception {
        StringBuilder s = new StringBuilder();
        s.append("Serving over HTTP (streaming /v1/completions, ").append(maxTokens).append(" tokens, temperature 0,"
                + " prompts in turn), variant ").append(variant.name()).append(" ").append(variant.options())
                .append("; per level a warm-up then max(16, ").append(perClient).append(" × concurrency) requests;"
                        + " latency from sending to [DONE], nearest-rank percentiles.\n\n");
        s.append("| model | concurrency | requests | failed / truncated / malformed | aggregate tokens/s | × concurrency 1"
                + " | latency p50 (ms) | latency p99 (ms) | p99 × concurrency 1 | first token p50 (ms) |\n");
        s.append("|---|---|---|---|---|---|---|---|---|---|\n");
        for (Model m : models) {
            if (!servingModels.contains(m.key())) {
                continue;
            }
            LoadGenerator.Config base = LoadGenerator.Config.of(uri, pipelineName(m, variant), PROMPTS, maxTokens, 1)
                    .withRequestTimeout(Duration.ofMinutes(5));
            double tps1 = Double.NaN;
            double p99one = Double.NaN;
            double[] xs = new double[levels.length];
            double[] ys = new double[levels.length];
            for (int i = 0; i < levels.length; i++) {
                int c = levels[i];
                try (LoadGenerator load = new LoadGenerator(base.withConcurrency(c))) {
                    load.run(Math.max(8, 2L * c), Duration.ofMinutes(5));   // warm-up: JIT, connections
                    LoadReport r = load.run(Math.max(16, (long) perClient * c), Duration.ofMinutes(10));
                    if (i == 0) {
                        tps1 = r.tokensPerSecond();
                        p99one = r.latencyMillis(99);
                    }
                    xs[i] = c;
                    ys[i] = r.tokensPerSecond();
                    s.append(String.format(Locale.ROOT, "| %s | %d | %d | %d / %d / %d | %,.0f | %.2f | %.1f | %.1f"
                                    + " | %.2f | %.1f |%n", m.key(), c, r.results().size(), r.failed(), r.truncated(),
                            r.malformed(), r.tokensPerSecond(), r.tokensPerSecond() / tps1, r.latencyMillis(50),
                            r.latencyMillis(99), r.latencyMillis(99) / p99one, r.timeToFirstTokenMillis(50)));
                    System.out.printf(Locale.ROOT, "serving %s c=%d: %s%n", m.key(), c, r.summary());
                    if (c == 16 && levels[0] == 1 && m.key().equals("stories260K")) {
                        double scale = r.tokensPerSecond() / tps1;
                        double p99 = r.latencyMillis(99) / p99one;
                        goalLines.add(String.format(Locale.ROOT, "- %s serving, concurrency 16 vs 1: aggregate"
                                + " tokens/s × %.2f (goal >= 8), p99 latency × %.2f (goal <= 3): %s", m.key(), scale,
                                p99, scale >= 8 && p99 <= 3 ? "met" : "not met"));
                    }
                }
            }
            panels.add(new SvgChart.LinePanel(m.label() + ", " + variant.name(),
                    List.of(new SvgChart.Series("Arbor " + variant.name(), xs, ys))));
        }
        return s.toString();
    }

    /** The goals that this run's figures decide, each with its measured ratio. */
    private static String goals(List<Row> rows, List<String> more) {
        StringBuilder s = new StringBuilder("Goals (ratios from this run):\n\n");
        for (Row row : rows) {
            if (row.arbor() || row.tokensPerSecond.isEmpty()) {
                continue;
            }
            Row arbor = matchingArbor(rows, row);
            if (arbor == null || arbor.tokensPerSecond.isEmpty()) {
                continue;
            }
            boolean goal = (row.model.key().equals("random15m") && row.threads == 2
                    && row.kind == Kind.LLAMACPP)
                    || (row.model.key().equals("stories260K") && row.threads == 1
                    && row.kind == Kind.LLAMACPP && "F32".equals(row.ggufType))
                    || (row.model.key().equals("stories260K") && row.minimal());
            if (!goal) {
                continue;
            }
            double need = row.minimal() ? 0.97 : 1.0;
            double ratio = arbor.tokensPerSecond.median() / row.tokensPerSecond.median();
            s.append(String.format(Locale.ROOT, "- %s: Arbor %s / %s (%s, %d thr) = %.2f, goal >= %.2f: %s%n",
                    row.model.key(), arbor.variant.name(), row.engine, row.graph == null ? row.precision
                            : row.graph + " " + row.precision, row.threads, ratio, need,
                    ratio >= need ? "met" : "not met"));
        }
        more.forEach(line -> s.append(line).append('\n'));
        return s.toString();
    }

    private static List<SvgChart.BarPanel> barPanels(List<Row> rows, List<Model> models) {
        List<SvgChart.BarPanel> panels = new ArrayList<>();
        for (Model m : models) {
            List<SvgChart.Bar> bars = new ArrayList<>();
            for (Row row : rows) {
                if (row.model == m) {
                    String label = row.engine + (row.arbor() ? "" : row.minimal() ? " " + row.graph + " "
                            + row.precision : " " + row.precision) + ", "
                            + (row.threads == 0 ? "default threads" : row.threads + " thr");
                    bars.add(new SvgChart.Bar(label, row.tokensPerSecond.isEmpty() || row.failure != null ? null
                            : row.tokensPerSecond.median(), row.kind.ordinal()));
                }
            }
            panels.add(new SvgChart.BarPanel(m.label(), bars));
        }
        return panels;
    }

    /** Tokens 2..N over the time after the first token: what run.c's "achieved tok/s" and llama-bench's tg time. */
    private static double decodeRate(int tokens, long firstTokenNanos, long totalNanos) {
        return (tokens - 1) / ((totalNanos - firstTokenNanos) / 1e9);
    }

    private static CompletionRequest greedy(String pipeline, int tokens) {
        return CompletionRequest.text(pipeline, "", Options.of(Map.of("temperature", 0, "max_tokens", tokens,
                "repetition_penalty", 1.0)));
    }

    private static String pipelineName(Model m, Variant v) {
        return m.key().toLowerCase(Locale.ROOT) + "-" + v.name();
    }

    /** A pipeline like the distribution's stories260k, on {@code m}'s files, with the variant's model options. */
    private static void writePipeline(Path home, Model m, Variant v) throws Exception {
        Map<String, Object> options = new LinkedHashMap<>();
        options.put("device", "cpu");
        v.options().forEach((k, value) -> options.put(k, jsonValue(value)));
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("name", pipelineName(m, v));
        p.put("description", m.label() + ", " + v.name() + " (EngineBenchmark)");
        p.put("model", Map.of("backend", "onnxruntime", "format", "llama2c", "path", m.checkpoint().toString(),
                "options", options));
        p.put("tokenizer", Map.of("format", "llama2c", "path", m.tokenizer().toString()));
        p.put("generator", "autoregressive");
        p.put("processors", List.of("repetition-penalty", "temperature", "top-k", "top-p"));
        p.put("selector", "sample");
        p.put("postprocessors", List.of());
        p.put("defaults", Map.of("max_tokens", 256, "temperature", 0.8, "top_p", 0.9));
        new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(
                home.resolve("etc/pipelines/" + pipelineName(m, v) + ".json").toFile(), p);
    }

    /** Option values as JSON numbers and booleans where they read as such (the backend reads typed options). */
    private static Object jsonValue(String text) {
        if (text.matches("-?[0-9]+")) {
            return Long.parseLong(text);
        }
        if (text.equals("true") || text.equals("false")) {
            return Boolean.parseBoolean(text);
        }
        return text;
    }

    private static String header(int tokens, int rounds, int warmup) throws Exception {
        double load = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        return String.format(Locale.ROOT, "Measured %s on %s: %d CPUs, load average %.2f at the start, %s %s, %s;"
                        + " %d tokens, %d rounds (+%d warm-up), interleaved.",
                ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'")),
                InetAddress.getLocalHost().getHostName(), Runtime.getRuntime().availableProcessors(), load,
                System.getProperty("java.vm.name"), System.getProperty("java.version"), cpuModel(), tokens, rounds,
                warmup);
    }

    /** The load average at the end, with a warning when other work competed for the CPUs during the run. */
    private static String loadNote() {
        double load = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        int cpus = Runtime.getRuntime().availableProcessors();
        return String.format(Locale.ROOT, "Load average at the end: %.2f on %d CPUs.%s%n", load, cpus,
                load > cpus ? " **Other work competed for the CPUs (load above the CPU count): multi-threaded figures"
                        + " and ratios of this run are not meaningful; rerun on a quiet machine.**" : "");
    }

    private static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).trim()).orElse("unknown CPU");
        } catch (Exception e) {
            return "unknown CPU";
        }
    }

    /** The innermost cause's first line (the outer ones say "could not be opened", the inner one says why). */
    private static String firstLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause().getMessage() != null) {
            root = root.getCause();
        }
        String m = String.valueOf(root.getMessage());
        int sentence = m.indexOf(". ");
        m = sentence < 0 ? m : m.substring(0, sentence + 1);
        m = m.replaceAll("'/[^']*/([^'/]+)'", "'$1'");   // a quoted path: its file name says enough in a table
        int nl = m.indexOf('\n');
        m = nl < 0 ? m : m.substring(0, nl);
        return m.length() > 240 ? m.substring(0, 240) + "…" : m;
    }

    private static Path peerPath(Map<String, String> a, String key, Path peers, String relative) {
        if (a.containsKey(key)) {
            return Path.of(a.get(key)).toAbsolutePath();
        }
        return peers == null ? null : peers.resolve(relative);
    }

    private static Map<String, String> arguments(String[] args) {
        Map<String, String> out = new LinkedHashMap<>();
        Set<String> known = Set.of("dist", "models", "random15m", "tokenizer32k", "peers", "run", "runomp",
                "llama-bench", "gguf", "variants", "tokens", "rounds", "warmup", "concurrency", "serving-tokens",
                "serving-requests", "serving-models", "serving-variant", "out");
        for (String arg : args) {
            int eq = arg.indexOf('=');
            String key = eq < 0 ? arg : arg.substring(0, eq);
            if (eq < 0 || !known.contains(key)) {
                throw ArborException.invalid("unknown argument '" + arg + "'\n" + USAGE);
            }
            out.put(key, arg.substring(eq + 1));
        }
        return out;
    }

    private static int integer(Map<String, String> a, String key, int fallback) {
        String v = a.get(key);
        if (v == null) {
            return fallback;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw ArborException.invalid(key + " must be an integer, got '" + v + "'");
        }
    }
}
