package dev.arbor.benchmarks;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.inference.Predictor;
import ai.djl.modality.nlp.generate.CausalLMOutput;
import ai.djl.modality.nlp.generate.SearchConfig;
import ai.djl.modality.nlp.generate.TextGenerator;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslatorContext;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.backend.djl.LlamaDecoder;
import dev.arbor.djl.runtime.DjlRuntime;
import dev.arbor.launcher.ArborFramework;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.Arrays;
import java.util.Map;

/**
 * Greedy decoding of stories260K on DJL: Arbor's full pipeline on the {@code djl} backend (stories260k-djl) and on
 * the {@code onnxruntime} backend (stories260k), both inside Felix, against DJL's own {@link TextGenerator} (greedy
 * search, {@link SearchConfig}) driving the same Java-defined {@link LlamaDecoder} through a {@link Predictor} with a
 * translator, as a DJL user would. All three run interleaved in one JVM on one PyTorch (the class path's DJL is
 * exported to the framework and the natives bundle is skipped: a JVM loads libtorch once).
 *
 * <p>TextGenerator returns the whole sequence at once, so its time to first token is measured as a separate greedy
 * search that generates one token (same prompt). Tokens/s is over the whole request for all three.
 *
 * <p>With a fifth argument {@code concurrency} > 1 it then measures continuous batching on the djl backend:
 * {@code concurrency} greedy requests with different prompts started together (a latch), on stories260k-djl
 * (batching on, the default) and on a copy of it with model option {@code batching=false}, interleaved round by
 * round; aggregate tokens/s over the wall time of all requests, and the check that both give the same tokens.
 *
 * <pre>java @argfile dev.arbor.benchmarks.DjlGreedyBenchmark DIST MODELS [tokens] [rounds] [concurrency]</pre>
 */
public final class DjlGreedyBenchmark {
    /** DJL packages the djl backend bundle imports, exported from the class path at DJL's version. */
    private static final String DJL_PACKAGES = String.join(",", Arrays.stream(new String[] {"ai.djl",
        "ai.djl.engine", "ai.djl.ndarray", "ai.djl.ndarray.index", "ai.djl.ndarray.internal", "ai.djl.ndarray.types",
        "ai.djl.nn", "ai.djl.training", "ai.djl.util"}).map(p -> p + ";version=0.36.0").toList())
            + ",dev.arbor.djl.runtime;version=1.0.0";

    private DjlGreedyBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path dist = Path.of(args.length > 0 ? args[0] : "distribution/target/arbor").toAbsolutePath();
        Path models = Path.of(args.length > 1 ? args[1] : "../shared/models").toAbsolutePath().normalize();
        int tokens = args.length > 2 ? Integer.parseInt(args[2]) : 200;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 20;
        int concurrency = args.length > 4 ? Integer.parseInt(args[4]) : 1;
        int warmup = 5;
        DjlRuntime.configure(null);
        Path checkpoint = models.resolve("stories260K/stories260K.bin");

        Path cache = Files.createTempDirectory("arbor-bench-cache");
        System.setProperty("arbor.cache", cache.toString());
        Path home = Files.createTempDirectory("arbor-bench-home");
        Files.createDirectories(home.resolve("etc/pipelines"));
        Files.createSymbolicLink(home.resolve("bundles"), dist.resolve("bundles"));
        for (String p : new String[] {"stories260k.json", "stories260k-djl.json"}) {
            Files.copy(dist.resolve("etc/pipelines/" + p), home.resolve("etc/pipelines/" + p));
        }
        writeUnbatchedCopy(dist.resolve("etc/pipelines/stories260k-djl.json"),
                home.resolve("etc/pipelines/" + UNBATCHED + ".json"));
        try (ArborFramework runtime = ArborFramework.start(home, null, Map.of(
                "org.osgi.framework.system.packages.extra", BenchmarkRuntime.API_PACKAGES + "," + DJL_PACKAGES,
                "arbor.launcher.skip", "arbor-api\\.jar|arbor-djl-runtime\\.jar",
                "arbor.models", models.toString(), "arbor.cache", cache.toString(), "arbor.etc.poll.ms", "0"));
             NDManager weights = DjlRuntime.pytorch().newBaseManager(Device.cpu());
             Model model = Model.newInstance("stories260K", Device.cpu(), DjlRuntime.PYTORCH)) {
            // the natives bundle is skipped, so the framework gets the class path's engine as its DjlRuntime service
            runtime.context().registerService(DjlRuntime.class, new DjlRuntime(), null);
            PipelineService pipelines = BenchmarkRuntime.awaitReady(runtime, "stories260k-djl");
            BenchmarkRuntime.awaitReady(runtime, "stories260k");
            LlamaDecoder decoder = LlamaDecoder.load(checkpoint, weights);
            model.setBlock(decoder);
            try (Predictor<NDList, CausalLMOutput> predictor = model.newPredictor(new LlamaTranslator(decoder))) {
                Options greedy = Options.of(Map.of("temperature", 0, "max_tokens", tokens, "repetition_penalty", 1.0));
                CompletionRequest djlRequest = CompletionRequest.text("stories260k-djl", "", greedy);
                CompletionRequest ortRequest = CompletionRequest.text("stories260k", "", greedy);
                long[][] total = new long[3][rounds];
                long[][] first = new long[3][rounds];
                int[][] ids = new int[3][];
                for (int r = -warmup; r < rounds; r++) {
                    long[] tg = textGenerator(predictor, tokens, ids);
                    Completion d = pipelines.complete(djlRequest, TextSink.DISCARD);
                    Completion o = pipelines.complete(ortRequest, TextSink.DISCARD);
                    ids[1] = d.tokens();
                    ids[2] = o.tokens();
                    if (r >= 0) {
                        first[0][r] = tg[0];
                        total[0][r] = tg[1];
                        first[1][r] = d.timeToFirstTokenNanos();
                        total[1][r] = d.totalNanos();
                        first[2][r] = o.timeToFirstTokenNanos();
                        total[2][r] = o.totalNanos();
                    }
                }
                if (!Arrays.equals(ids[0], ids[1]) || !Arrays.equals(ids[1], ids[2])) {
                    throw new IllegalStateException("the three paths produced different tokens:\n"
                            + Arrays.toString(ids[0]) + "\n" + Arrays.toString(ids[1]) + "\n"
                            + Arrays.toString(ids[2]));
                }
                String[] names = {"DJL TextGenerator (greedy, same LlamaDecoder via Predictor)",
                    "Arbor on DJL (Felix, full pipeline, djl backend)", "Arbor on ONNX Runtime (Felix, full pipeline)"};
                double base = tokens / (median(total[0]) / 1e9);
                System.out.printf("date %s, %d tokens greedy from BOS, %d rounds (+%d warm-up), medians, same tokens%n",
                        LocalDate.now(), tokens, rounds, warmup);
                System.out.printf("| path | tokens/s | time to first token (ms) | tokens/s vs TextGenerator |%n"
                        + "|---|---|---|---|%n");
                for (int i = 0; i < 3; i++) {
                    double tps = tokens / (median(total[i]) / 1e9);
                    System.out.printf("| %s | %.0f | %.2f | %.2f |%n", names[i], tps, median(first[i]) / 1e6,
                            tps / base);
                }
                if (concurrency > 1) {
                    BenchmarkRuntime.awaitReady(runtime, UNBATCHED);
                    concurrent(pipelines, tokens, rounds, warmup, concurrency);
                }
            }
        }
    }

    private static final String UNBATCHED = "stories260k-djl-unbatched";
    /** Prompts of different lengths, so that batched rows have different KV lengths. */
    private static final String[] PROMPTS = {"", "Once upon a time", "The cat sat", "Lily and Ben went to the park.",
        "One day", "Tom had a red ball", "The sun", "A little bird sang a song"};

    /** stories260k-djl with model option batching=false, under its own name. */
    private static void writeUnbatchedCopy(Path source, Path target) throws java.io.IOException {
        String json = Files.readString(source);
        String options = "\"options\": { \"device\": \"cpu\" }";
        if (!json.contains(options) || !json.contains("\"name\": \"stories260k-djl\"")) {
            throw new IllegalStateException(source + " changed: cannot derive the unbatched pipeline from it");
        }
        Files.writeString(target, json.replace("\"name\": \"stories260k-djl\"", "\"name\": \"" + UNBATCHED + "\"")
                .replace(options, "\"options\": { \"device\": \"cpu\", \"batching\": false }"));
    }

    /**
     * {@code concurrency} greedy requests started together on the batched and the unbatched pipeline, alternating:
     * median aggregate tokens/s of each, after checking that both give every prompt the same tokens.
     */
    private static void concurrent(PipelineService pipelines, int tokens, int rounds, int warmup, int concurrency)
            throws Exception {
        String[] names = {"stories260k-djl", UNBATCHED};
        long[][] wall = new long[2][rounds];
        long[][] generated = new long[2][rounds];
        int[][][] ids = new int[2][concurrency][];
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(concurrency);
        try {
            for (int r = -warmup; r < rounds; r++) {
                for (int p = 0; p < 2; p++) {
                    java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
                    java.util.List<java.util.concurrent.Future<Completion>> futures = new java.util.ArrayList<>();
                    for (int c = 0; c < concurrency; c++) {
                        CompletionRequest req = CompletionRequest.text(names[p], PROMPTS[c % PROMPTS.length],
                                Options.of(Map.of("temperature", 0, "max_tokens", tokens, "repetition_penalty", 1.0)));
                        futures.add(pool.submit(() -> {
                            start.await();
                            return pipelines.complete(req, TextSink.DISCARD);
                        }));
                    }
                    long t0 = System.nanoTime();
                    start.countDown();
                    long count = 0;
                    for (int c = 0; c < concurrency; c++) {
                        Completion done = futures.get(c).get();
                        ids[p][c] = done.tokens();
                        count += done.tokens().length;
                    }
                    if (r >= 0) {
                        wall[p][r] = System.nanoTime() - t0;
                        generated[p][r] = count;
                    }
                }
                for (int c = 0; c < concurrency; c++) {
                    if (!Arrays.equals(ids[0][c], ids[1][c])) {
                        throw new IllegalStateException("batched and unbatched decoding differ for prompt '"
                                + PROMPTS[c % PROMPTS.length] + "':\n" + Arrays.toString(ids[0][c]) + "\n"
                                + Arrays.toString(ids[1][c]));
                    }
                }
            }
        } finally {
            pool.shutdownNow();
        }
        System.out.printf("%n%d concurrent greedy requests (%d different prompts), up to %d tokens each, %d rounds, "
                + "medians, same tokens batched and unbatched%n", concurrency, Math.min(concurrency, PROMPTS.length),
                tokens, rounds);
        System.out.printf("| djl backend | aggregate tokens/s | wall time per round (ms) |%n|---|---|---|%n");
        String[] labels = {"batching on (default)", "batching=false"};
        double[] tps = new double[2];
        for (int p = 0; p < 2; p++) {
            double[] rates = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                rates[r] = generated[p][r] / (wall[p][r] / 1e9);
            }
            Arrays.sort(rates);
            tps[p] = rounds % 2 == 1 ? rates[rounds / 2] : (rates[rounds / 2 - 1] + rates[rounds / 2]) / 2;
            System.out.printf("| %s | %.0f | %.1f |%n", labels[p], tps[p], median(wall[p]) / 1e6);
        }
        System.out.printf("batched / unbatched: %.2f%n", tps[0] / tps[1]);
    }

    /** One greedy search of {@code tokens} tokens from BOS and one of a single token: {ttft, total} nanos. */
    private static long[] textGenerator(Predictor<NDList, CausalLMOutput> predictor, int tokens, int[][] ids)
            throws Exception {
        long[] out = new long[2];
        try (NDManager m = NDManager.newBaseManager(Device.cpu(), DjlRuntime.PYTORCH)) {
            NDArray bos = m.create(new long[] {1}, new Shape(1, 1));
            SearchConfig one = new SearchConfig();
            one.setMaxSeqLength(2);
            long t0 = System.nanoTime();
            new TextGenerator(predictor, "greedy", one).greedySearch(bos);
            out[0] = System.nanoTime() - t0;
            SearchConfig all = new SearchConfig();
            all.setMaxSeqLength(1 + tokens);
            t0 = System.nanoTime();
            NDArray seq = new TextGenerator(predictor, "greedy", all).greedySearch(bos);
            out[1] = System.nanoTime() - t0;
            long[] full = seq.toLongArray();
            ids[0] = Arrays.stream(full, 1, full.length).mapToInt(v -> (int) v).toArray();
        }
        return out;
    }

    /**
     * TextGenerator's model inputs ({@code input_ids, position_ids, attention_mask [B, P+T]} then the past key/value
     * list) to the decoder's ({@code input_ids, position_ids, attention_bias [B,1,T,P+T]}, past), and its outputs
     * to a {@link CausalLMOutput}; a causal bias from the mask, as any DJL llama translator would do.
     */
    private static final class LlamaTranslator implements NoBatchifyTranslator<NDList, CausalLMOutput> {
        private final LlamaDecoder decoder;

        LlamaTranslator(LlamaDecoder decoder) {
            this.decoder = decoder;
        }

        @Override
        public NDList processInput(TranslatorContext ctx, NDList input) {
            NDArray ids = input.get(0);
            NDArray mask = input.get(2);
            ctx.setAttachment("caller", ids.getManager());
            NDManager m = ctx.getNDManager();
            long b = ids.getShape().get(0);
            long t = ids.getShape().get(1);
            long total = mask.getShape().get(1);
            long past = total - t;
            long[] valid = mask.toLongArray();
            float[] bias = new float[(int) (b * t * total)];
            for (int r = 0, at = 0; r < b; r++) {
                for (int q = 0; q < t; q++) {
                    for (int k = 0; k < total; k++) {   // causal, and only keys the mask marks valid
                        bias[at++] = k <= past + q && valid[(int) (r * total + k)] == 1 ? 0f : -1e9f;
                    }
                }
            }
            NDList out = new NDList(input.get(0), input.get(1), m.create(bias, new Shape(b, 1, t, total)));
            if (input.size() > 3) {
                out.addAll(input.subNDList(3));
            } else {
                for (int i = 0; i < 2 * decoder.numLayers(); i++) {
                    out.add(m.zeros(new Shape(b, decoder.kvHeads(), 0, decoder.headSize())));
                }
            }
            return out;
        }

        @Override
        public CausalLMOutput processOutput(TranslatorContext ctx, NDList output) {
            output.attach((NDManager) ctx.getAttachment("caller")); // outlive the predict call, as TextGenerator needs
            return new CausalLMOutput(output.get(0), output.subNDList(1));
        }
    }

    private static double median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }
}
