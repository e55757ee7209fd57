package dev.arbor.benchmarks;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartPolicy;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.pipeline.TokenizerRef;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.TokenizerProvider;
import dev.arbor.launcher.ArborFramework;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.osgi.framework.BundleContext;

/**
 * Per-token cost of a structured-output constraint (processor {@code structured-output}) against unconstrained
 * decoding, through the assembled runtime (Felix, pipeline service, ONNX Runtime backend), on stories260K (llama2.c
 * tokenizer, 512 tokens) and tiny-random-gpt2 (Hugging Face byte-level BPE, 1,000 tokens).
 *
 * <p>Per model and constraint, three variants run the same requests (prompt, seed, temperature 1, {@code max_tokens})
 * interleaved round by round: <b>unconstrained</b> (the pipeline's chain), <b>warm</b> (the constraint first in the
 * chain, as {@code response_format} builds it; the same constraint text every round, so the compiled grammar and its
 * per-state masks are cached after the warm-up) and <b>cold</b> (a constraint text no request used before: the round's
 * number is appended as a literal alternative, so it is compiled and its masks computed during the request).
 * Reported: decode milliseconds per generated token ({@code decode_nanos} of the autoregressive generator over the
 * tokens; the first forward, the prefill, is left out, as is the one-time chain set-up) and whole-request milliseconds
 * (set-up, i.e. compiling a cold constraint, included): medians over the rounds, and minimums (the least disturbed
 * round on a shared machine). Then, as the model's time dominates and varies on a shared machine, the processor's own
 * cost: a processor of the running bundle replays the tokens of a warm constrained completion on zero logits
 * (microseconds per token, warm: the least of 5 passes; cold: creating a processor for a new constraint text plus
 * its first pass).
 *
 * <pre>java @argfile dev.arbor.benchmarks.StructuredOutputBenchmark DIST MODELS [max_tokens] [rounds]</pre>
 */
public final class StructuredOutputBenchmark {
    private static final String PROCESSOR = "structured-output";
    /** Prompts per pipeline: tiny-random-gpt2's model has 1,000 ids of its tokenizer's 50,257, so a short one. */
    private static final Map<String, String> PROMPTS = Map.of("stories260k", "Once upon a time",
            "tiny-random-gpt2", "a");
    private static final int WARMUP = 3;

    private StructuredOutputBenchmark() {
    }

    /** A constraint: the processor option and a text builder (round number, -1 for the warm text). */
    private record Constraint(String name, String option, java.util.function.IntFunction<Object> value) {
    }

    private static final List<Constraint> CONSTRAINTS = List.of(
            new Constraint("regex: free text [A-Za-z ,.]+", "regex",
                    r -> r < 0 ? "[A-Za-z ,.]+" : "[A-Za-z ,.]+|cold" + r),
            new Constraint("regex: JSON lines", "regex", r -> "(\\{\"n\": [0-9]{1,3}, \"w\": \"[a-z]{1,8}\"\\}\n)+"
                    + (r < 0 ? "" : "|cold" + r)),
            new Constraint("json_object", "json_object", r -> Boolean.TRUE),
            new Constraint("json_schema: nested object", "json_schema", r -> "{\"type\": \"object\", \"properties\":"
                    + " {\"name\": {\"type\": \"string\", \"maxLength\": 12}, \"tags\": {\"type\": \"array\","
                    + " \"items\": {\"enum\": [\"a\", \"b\"" + (r < 0 ? "" : ", \"cold" + r + "\"") + "]}},"
                    + " \"age\": {\"type\": \"integer\"}}, \"required\": [\"name\", \"tags\", \"age\"],"
                    + " \"additionalProperties\": false}"));

    public static void main(String[] args) throws Exception {
        Path dist = Path.of(args.length > 0 ? args[0] : "distribution/target/arbor").toAbsolutePath();
        Path models = Path.of(args.length > 1 ? args[1] : "../shared/models").toAbsolutePath().normalize();
        int maxTokens = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 20;
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.offline", "true");
        Path cache = Files.createTempDirectory("arbor-bench-cache");
        System.setProperty("arbor.cache", cache.toString());
        Path home = Files.createTempDirectory("arbor-bench-home");
        Files.createDirectories(home.resolve("etc/pipelines"));
        Files.createSymbolicLink(home.resolve("bundles"), dist.resolve("bundles"));
        Files.copy(dist.resolve("etc/pipelines/stories260k.json"), home.resolve("etc/pipelines/stories260k.json"));
        try (ArborFramework runtime = ArborFramework.start(home, null, Map.of(
                "org.osgi.framework.system.packages.extra", BenchmarkRuntime.API_PACKAGES,
                "arbor.launcher.skip", "arbor-api\\.jar", "arbor.models", models.toString(),
                "arbor.cache", cache.toString(), "arbor.etc.poll.ms", "0"))) {
            PipelineService pipelines = BenchmarkRuntime.awaitReady(runtime, "stories260k");
            PipelineDefinition stories = pipelines.status("stories260k").orElseThrow().definition();
            pipelines.define(new PipelineDefinition("tiny-random-gpt2", "tiny-random-gpt2 for the benchmark",
                    new dev.arbor.api.pipeline.ModelRef("onnxruntime", "onnx",
                            models.resolve("tiny-random-gpt2/past.onnx").toString(), Options.empty()),
                    new TokenizerRef("huggingface", models.resolve("tiny-random-gpt2/tokenizer.json").toString(),
                            Options.empty()), PartRef.of("autoregressive"), stories.processors(), stories.selector(),
                    List.of(), stories.defaults(), new PartPolicy(List.of(), List.of(PROCESSOR), List.of())));
            BenchmarkRuntime.awaitReady(runtime, "tiny-random-gpt2");
            System.out.printf("date %s, prompts %s, temperature 1, top_p 0.9 (pipeline default), max_tokens %d,"
                    + " %d rounds (+%d warm-up) interleaved, same seeds per variant; median (minimum)%n",
                    LocalDate.now(), PROMPTS, maxTokens, rounds, WARMUP);
            System.out.println("| model | constraint | variant | decode ms/token | overhead ms/token | request ms |"
                    + " tokens (mean) |");
            System.out.println("|---|---|---|---|---|---|---|");
            for (String pipeline : List.of("stories260k", "tiny-random-gpt2")) {
                for (Constraint c : CONSTRAINTS) {
                    if (pipeline.equals("tiny-random-gpt2") && c != CONSTRAINTS.get(0)) {
                        // its model has 1,000 of the tokenizer's 50,257 ids, and the tokenizer's end token (50256,
                        // the one a constraint allows where the output is complete and nothing else fits the
                        // budget) is not among them: only a language every token can extend (free text) runs there
                        continue;
                    }
                    measure(pipelines, pipeline, c, maxTokens, rounds);
                }
            }
            System.out.println();
            System.out.println("The processor alone, replayed over the tokens of a constrained completion (zero logits,"
                    + " the processor of the running bundle, min of 5 passes): microseconds per token");
            System.out.println("| model | constraint | warm µs/token | cold µs/token (create + first pass) |");
            System.out.println("|---|---|---|---|");
            for (Replay r : REPLAYS) {
                r.run(runtime.context(), pipelines);
            }
        }
    }

    private static void measure(PipelineService pipelines, String pipeline, Constraint c, int maxTokens,
                                int rounds) {
        List<PartRef> own = new ArrayList<>();
        pipelines.status(pipeline).orElseThrow().definition().processors().forEach(p -> own.add(PartRef.of(p.name())));
        // a constraint without a text to vary (json_object) has no cold variant after its first use
        String[] variants = c.value().apply(-1).equals(c.value().apply(1))
                ? new String[] {"unconstrained", "constrained, warm"}
                : new String[] {"unconstrained", "constrained, warm", "constrained, cold"};
        Map<String, double[]> perToken = new LinkedHashMap<>();
        Map<String, double[]> perRequest = new LinkedHashMap<>();
        Map<String, long[]> tokens = new LinkedHashMap<>();
        int[][] lastTokens = {new int[0]};
        for (String v : variants) {
            perToken.put(v, new double[rounds]);
            perRequest.put(v, new double[rounds]);
            tokens.put(v, new long[rounds]);
        }
        try {
            for (int r = -WARMUP; r < rounds; r++) {
                for (String v : variants) {
                    List<PartRef> chain = null;
                    if (!v.equals("unconstrained")) {
                        chain = new ArrayList<>();
                        // the cold texts of warm-up rounds are never used again either: distinct numbers
                        Object value = c.value().apply(v.endsWith("cold") ? r + WARMUP + 1_000 * rounds : -1);
                        chain.add(new PartRef(PROCESSOR, Options.of(Map.of(c.option(), value,
                                "max_tokens", maxTokens))));
                        chain.addAll(own);
                    }
                    Completion done = pipelines.complete(new CompletionRequest(pipeline, PROMPTS.get(pipeline), null,
                            List.of(),
                            null, chain, Options.of(Map.of("temperature", 1.0, "seed", 1000L + Math.max(r, 0),
                            "max_tokens", maxTokens))), TextSink.DISCARD);
                    if (r < 0) {
                        continue;
                    }
                    int n = Math.max(1, done.tokens().length);
                    long decode = ((Number) done.stats().getOrDefault("decode_nanos", done.totalNanos())).longValue();
                    perToken.get(v)[r] = decode / 1e6 / n;
                    perRequest.get(v)[r] = done.totalNanos() / 1e6;
                    tokens.get(v)[r] = done.tokens().length;
                    if (v.endsWith("warm")) {
                        lastTokens[0] = done.tokens();
                    }
                }
            }
        } catch (ArborException e) {
            System.out.printf("| %s | %s | not measured: %s | | | | |%n", pipeline, c.name(), e.getMessage());
            return;
        }
        REPLAYS.add(new Replay(pipeline, c, lastTokens[0]));
        double base = median(perToken.get("unconstrained"));
        double baseMin = min(perToken.get("unconstrained"));
        for (String v : variants) {
            double t = median(perToken.get(v));
            double m = min(perToken.get(v));
            System.out.printf("| %s | %s | %s | %.3f (%.3f) | %s | %.1f (%.1f) | %.1f |%n", pipeline, c.name(), v, t, m,
                    v.equals("unconstrained") ? "" : String.format("%+.3f (%+.3f)", t - base, m - baseMin),
                    median(perRequest.get(v)), min(perRequest.get(v)),
                    Arrays.stream(tokens.get(v)).average().orElse(0));
        }
    }

    private static final List<Replay> REPLAYS = new ArrayList<>();
    private static final Map<String, Integer> VOCAB = Map.of("stories260k", 512, "tiny-random-gpt2", 1000);

    /** The processor's own cost per token, replaying a completion's tokens through a processor of the bundle. */
    private record Replay(String pipeline, Constraint constraint, int[] tokens) {
        void run(BundleContext context, PipelineService pipelines) throws Exception {
            if (tokens.length == 0) {
                return;
            }
            PipelineDefinition d = pipelines.status(pipeline).orElseThrow().definition();
            LogitsProcessorFactory factory = service(context, LogitsProcessorFactory.class, PROCESSOR);
            Tokenizer tokenizer = service(context, TokenizerProvider.class, d.tokenizer().format())
                    .open(Path.of(d.tokenizer().path()), d.tokenizer().options());
            int[] prompt = pipelines.tokenize(pipeline, PROMPTS.get(pipeline));
            int vocab = VOCAB.get(pipeline);
            Options warm = Options.of(Map.of(constraint.option(), constraint.value().apply(-1),
                    "max_tokens", tokens.length));
            double best = Double.MAX_VALUE;
            for (int pass = 0; pass < 5; pass++) {
                best = Math.min(best, pass(factory.create(warm, tokenizer), prompt, vocab, 0));
            }
            Object coldValue = constraint.value().apply(7_777_777);
            String cold = "";
            if (!coldValue.equals(constraint.value().apply(-1))) {
                long start = System.nanoTime();
                double perToken = pass(factory.create(Options.of(Map.of(constraint.option(), coldValue,
                        "max_tokens", tokens.length)), tokenizer), prompt, vocab, start);
                cold = String.format("%.1f", perToken);
            }
            System.out.printf("| %s | %s | %.1f | %s |%n", pipeline, constraint.name(), best, cold);
        }

        /** Microseconds per token of one pass (from {@code start} when given, else from the first call). */
        private double pass(LogitsProcessor processor, int[] prompt, int vocab, long start) {
            SamplingContext history = SamplingContext.seeded(prompt, vocab, 0);
            float[] logits = new float[vocab];
            long begin = start != 0 ? start : System.nanoTime();
            for (int token : tokens) {
                java.util.Arrays.fill(logits, 0f);
                processor.process(logits, history);
                history.append(token);
            }
            return (System.nanoTime() - begin) / 1e3 / tokens.length;
        }
    }

    /** Waits (for the service event, not by polling) for part {@code name} of {@code type}; kept for the run. */
    static <T> T service(BundleContext context, Class<T> type, String name) throws Exception {
        org.osgi.util.tracker.ServiceTracker<T, T> tracker = new org.osgi.util.tracker.ServiceTracker<>(context,
                context.createFilter("(&(objectClass=" + type.getName() + ")(" + PartProperties.NAME + "=" + name
                        + "))"), null);
        tracker.open();
        T service = tracker.waitForService(10_000);
        if (service == null) {
            throw new IllegalStateException("no " + type.getSimpleName() + " part '" + name + "'");
        }
        return service;
    }

    private static double min(double[] values) {
        return Arrays.stream(values).min().orElse(Double.NaN);
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }
}
