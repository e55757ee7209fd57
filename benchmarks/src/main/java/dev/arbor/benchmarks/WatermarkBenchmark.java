package dev.arbor.benchmarks;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.model.StateWrite;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.TokenSelectorFactory;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.TokenizerProvider;
import dev.arbor.launcher.ArborFramework;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;

/**
 * Both watermarks on stories260K (issue 5, "must be measured"): true-positive rate vs length at a 1 % false-positive
 * rate, robustness to random token replacement, and the quality cost as perplexity under the unwatermarked model.
 *
 * <p>The parts are the bundles themselves, running in Felix (the assembled distribution's bundles plus the two
 * watermark bundles and commons-math3, installed from the paths given), found by {@code arbor.part} like a pipeline
 * finds them; the benchmark drives them through the API only. Generation: the {@code stories260k} pipeline's sampling
 * (temperature 0.8, top-p 0.9; the watermark first in the chain), 10 prompts × {@code perPrompt} seeds, 200 tokens,
 * rows of one prompt batched in one forward per step (each row its own sampler chain and seeded context, as a single
 * request has).
 *
 * <ul>
 *   <li><b>TPR at 1 % FPR</b>, on the first 50/100/200 tokens: (a) at the theoretical 1 % threshold (green list:
 *       z &gt; 2.326 with {@code ignore_repeated_ngrams}; LBW: its Šidák-corrected decision at {@code alpha} 0.01),
 *       with the false-positive rate measured on the unwatermarked texts with the same key beside it; (b) at the
 *       empirical 1 % threshold: the 99th percentile of the same key's z on the unwatermarked texts.</li>
 *   <li><b>Robustness</b>: on the 200-token texts, 10/20/30 % of positions (drawn at random) get a uniformly random
 *       id (BOS/EOS excluded), then detection as in (a).</li>
 *   <li><b>Quality</b>: perplexity of the generated tokens under the model's own distribution (softmax of the raw
 *       logits: temperature 1, no filtering), pooled over all texts of a set: exp(mean negative log-likelihood).</li>
 * </ul>
 *
 * <pre>java @argfile dev.arbor.benchmarks.WatermarkBenchmark DIST MODELS GREENLIST_JAR LBW_JAR COMMONS_MATH_JAR [perPrompt]</pre>
 */
public final class WatermarkBenchmark {
    private static final String[] PROMPTS = {"Once upon a time", "Lily and Ben", "The dog", "One day",
        "Tom had a red ball", "The sun was shining", "Mom said", "There was a little bird", "Sara liked to",
        "The big tree"};
    private static final int LENGTH = 200;
    private static final Options SAMPLING = Options.of(Map.of("temperature", 0.8, "top_p", 0.9));
    private static final Options GREEN = Options.of(Map.of("hashing_key", "982451653", "bias", 2.0,
            "ignore_repeated_ngrams", true, "z_threshold", 2.3263478740408408));
    private static final Options LBW = Options.of(Map.of("key", "benchmark-key-3b9d", "bias", 2.0, "alpha", 0.01));
    private static final Options LBW4 = LBW.with("bias", 4.0);

    private final BundleContext context;
    private final ModelBackend model;
    private final Tokenizer tokenizer;

    private WatermarkBenchmark(BundleContext context, ModelBackend model, Tokenizer tokenizer) {
        this.context = context;
        this.model = model;
        this.tokenizer = tokenizer;
    }

    public static void main(String[] args) throws Exception {
        Path dist = Path.of(args[0]).toAbsolutePath();
        Path models = Path.of(args[1]).toAbsolutePath().normalize();
        List<Path> extra = List.of(Path.of(args[2]).toAbsolutePath(), Path.of(args[3]).toAbsolutePath(),
                Path.of(args[4]).toAbsolutePath());
        int perPrompt = args.length > 5 ? Integer.parseInt(args[5]) : 20;
        System.setProperty("OPT_OUT_TRACKING", "true");
        Path cache = Files.createTempDirectory("arbor-bench-cache");
        Path home = Files.createTempDirectory("arbor-bench-home");
        Path bundles = Files.createDirectories(home.resolve("bundles"));
        try (Stream<Path> jars = Files.list(dist.resolve("bundles"))) {
            for (Path jar : jars.toList()) {
                Files.createSymbolicLink(bundles.resolve(jar.getFileName()), jar);
            }
        }
        for (Path jar : extra) {
            Files.createSymbolicLink(bundles.resolve(jar.getFileName()), jar);
        }
        Files.createDirectories(home.resolve("etc/pipelines"));
        String api = BenchmarkRuntime.API_AND_ONNXRUNTIME;
        try (ArborFramework runtime = ArborFramework.start(home, null, Map.of(
                "org.osgi.framework.system.packages.extra", api,
                "arbor.launcher.skip", "arbor-api\\.jar|arbor-onnxruntime-runtime\\.jar",
                "arbor.cache", cache.toString(), "arbor.etc.poll.ms", "0"))) {
            BundleContext ctx = runtime.context();
            ModelBackend model = part(ctx, ModelBackendProvider.class, "onnxruntime").open(new ModelSpec(
                    models.resolve("stories260K/stories260K.bin"), "llama2c",
                    Options.of(Map.of("cache_dir", cache.toString()))));
            Tokenizer tokenizer = part(ctx, TokenizerProvider.class, "llama2c").open(
                    models.resolve("stories260K/tok512.bin"), Options.empty());
            try (model) {
                new WatermarkBenchmark(ctx, model, tokenizer).run(perPrompt);
            }
        }
    }

    private static <T> T part(BundleContext ctx, Class<T> type, String name) throws Exception {
        for (int i = 0; i < 1000; i++) {
            var refs = ctx.getServiceReferences(type, "(" + PartProperties.NAME + "=" + name + ")");
            if (!refs.isEmpty()) {
                return ctx.getService(refs.iterator().next());
            }
            Thread.sleep(10);
        }
        throw new IllegalStateException("no " + type.getSimpleName() + " part '" + name + "'");
    }

    private void run(int perPrompt) throws Exception {
        long start = System.nanoTime();
        List<int[][]> texts = new ArrayList<>();
        String[] sets = {"unwatermarked", "green list (δ 2)", "LBW soft (δ 2)", "LBW soft (δ 4)"};
        String[] processors = {null, "watermark-greenlist", "watermark-lbw", "watermark-lbw"};
        Options[] options = {Options.empty(), GREEN, LBW, LBW4};
        for (int s = 0; s < sets.length; s++) {
            List<int[]> all = new ArrayList<>();
            List<int[]> prompts = new ArrayList<>();
            for (int p = 0; p < PROMPTS.length; p++) {
                long[] seeds = new long[perPrompt];
                for (int i = 0; i < perPrompt; i++) {
                    seeds[i] = 1_000_000L * s + 1000L * p + i;
                }
                all.addAll(Arrays.asList(generate(PROMPTS[p], seeds, processors[s], options[s])));
            }
            texts.add(all.toArray(new int[0][]));
        }
        System.out.printf("date %s; %d texts x %d tokens per set, generated in %.1f s%n", LocalDate.now(),
                texts.get(0).length, LENGTH, (System.nanoTime() - start) / 1e9);

        PostProcessor green = part(context, PostProcessor.class, "watermark-greenlist-detect");
        PostProcessor lbw = part(context, PostProcessor.class, "watermark-lbw-detect");
        Detector[] detectors = {
            new Detector("green list", green, GREEN, texts.get(1)),
            new Detector("LBW δ 2", lbw, LBW, texts.get(2)),
            new Detector("LBW δ 4", lbw, LBW4, texts.get(3))};

        System.out.println("\nTPR vs length (a: theoretical 1 % threshold, FPR measured with the same key; "
                + "b: empirical 1 % threshold)");
        System.out.println("| watermark | tokens | TPR (a) | FPR (a) | TPR (b) | empirical threshold (z) |");
        System.out.println("|---|---|---|---|---|---|");
        for (Detector d : detectors) {
            for (int length : new int[] {50, 100, 200}) {
                double[] nullZ = new double[texts.get(0).length];
                int falsePositives = 0;
                for (int i = 0; i < nullZ.length; i++) {
                    Map<String, Object> r = d.detect(Arrays.copyOf(texts.get(0)[i], length));
                    nullZ[i] = (double) r.get("z_score");
                    falsePositives += (boolean) r.get("detected") ? 1 : 0;
                }
                double empirical = quantile(nullZ, 0.99);
                int tp = 0;
                int tpEmpirical = 0;
                for (int[] text : d.marked) {
                    Map<String, Object> r = d.detect(Arrays.copyOf(text, length));
                    tp += (boolean) r.get("detected") ? 1 : 0;
                    tpEmpirical += (double) r.get("z_score") > empirical ? 1 : 0;
                }
                System.out.printf("| %s | %d | %.3f | %.3f | %.3f | %.2f |%n", d.name, length,
                        tp / (double) d.marked.length, falsePositives / (double) nullZ.length,
                        tpEmpirical / (double) d.marked.length, empirical);
            }
        }

        System.out.println("\nRobustness at 200 tokens (theoretical 1 % threshold): TPR after replacing a fraction of"
                + " tokens with random ids");
        System.out.println("| watermark | 0 % | 10 % | 20 % | 30 % |");
        System.out.println("|---|---|---|---|---|");
        for (Detector d : detectors) {
            StringBuilder row = new StringBuilder("| " + d.name + " |");
            for (double fraction : new double[] {0, 0.1, 0.2, 0.3}) {
                SplittableRandom random = new SplittableRandom(77);
                int tp = 0;
                for (int[] text : d.marked) {
                    tp += (boolean) d.detect(corrupt(text, fraction, random)).get("detected") ? 1 : 0;
                }
                row.append(String.format(" %.3f |", tp / (double) d.marked.length));
            }
            System.out.println(row);
        }

        System.out.println("\nQuality: perplexity of the 200 generated tokens under the unwatermarked model "
                + "(temperature 1, no filtering)");
        System.out.println("| text | perplexity | ratio to unwatermarked |");
        System.out.println("|---|---|---|");
        double base = 0;
        for (int s = 0; s < sets.length; s++) {
            double ppl = perplexity(texts.get(s), perPrompt);
            if (s == 0) {
                base = ppl;
            }
            System.out.printf("| %s | %.3f | %.3f |%n", sets[s], ppl, ppl / base);
        }
    }

    private final class Detector {
        final String name;
        final PostProcessor part;
        final Options options;
        final int[][] marked;

        Detector(String name, PostProcessor part, Options options, int[][] marked) {
            this.name = name;
            this.part = part;
            this.options = options;
            this.marked = marked;
        }

        @SuppressWarnings("unchecked")
        Map<String, Object> detect(int[] tokens) {
            return (Map<String, Object>) part.process(new PostProcessor.Output(tokens, "", Map.of()), tokenizer,
                    options).annotations().get("watermark");
        }
    }

    private int[] corrupt(int[] text, double fraction, SplittableRandom random) {
        int[] out = text.clone();
        int n = (int) Math.round(fraction * out.length);
        int[] positions = new int[out.length];
        for (int i = 0; i < positions.length; i++) {
            positions[i] = i;
        }
        for (int i = 0; i < n; i++) {
            int j = i + random.nextInt(positions.length - i);
            int t = positions[i];
            positions[i] = positions[j];
            positions[j] = t;
            int id;
            do {
                id = random.nextInt(tokenizer.vocabSize());
            } while (id == tokenizer.bosTokenId().orElse(-1) || id == tokenizer.eosTokenId().orElse(-1));
            out[positions[i]] = id;
        }
        return out;
    }

    /** Rows of one prompt, one forward per step; row b samples with its own chain and a context seeded seeds[b]. */
    private int[][] generate(String prompt, long[] seeds, String watermark, Options options) throws Exception {
        int batch = seeds.length;
        int[] ids = tokenizer.encode(prompt, true);
        int vocab = model.card().vocabSize();
        LogitsProcessorFactory wm = watermark == null ? null : part(context, LogitsProcessorFactory.class, watermark);
        LogitsProcessorFactory temperature = part(context, LogitsProcessorFactory.class, "temperature");
        LogitsProcessorFactory topP = part(context, LogitsProcessorFactory.class, "top-p");
        TokenSelectorFactory sample = part(context, TokenSelectorFactory.class, "sample");
        Sampler[] samplers = new Sampler[batch];
        SamplingContext[] contexts = new SamplingContext[batch];
        int[][] rows = new int[batch][];
        for (int b = 0; b < batch; b++) {
            List<LogitsProcessor> chain = new ArrayList<>();
            if (wm != null) {
                chain.add(wm.create(options));
            }
            chain.add(temperature.create(SAMPLING));
            chain.add(topP.create(SAMPLING));
            samplers[b] = new Sampler(chain, sample.create(SAMPLING));
            contexts[b] = SamplingContext.seeded(ids, vocab, seeds[b]);
            rows[b] = ids;
        }
        int[][] out = new int[batch][LENGTH];
        try (DecodeState state = model.newState(batch)) {
            ForwardResult result = model.forward(ForwardRequest.builder(rows).state(state).write(StateWrite.APPEND)
                    .lastRowOnly().build());
            int[][] next = new int[batch][1];
            for (int step = 0; step < LENGTH; step++) {
                for (int b = 0; b < batch; b++) {
                    int token = samplers[b].sample(result.last(b).clone(), contexts[b]).token();
                    contexts[b].append(token);
                    out[b][step] = token;
                    next[b][0] = token;
                }
                if (step + 1 < LENGTH) {
                    result = model.forward(ForwardRequest.next(next, state));
                }
            }
        }
        return out;
    }

    /** exp(mean NLL) of the generated tokens given prompt + earlier tokens, softmax of the raw logits. */
    private double perplexity(int[][] texts, int perPrompt) {
        double nll = 0;
        long count = 0;
        for (int p = 0; p < PROMPTS.length; p++) {
            int[] prompt = tokenizer.encode(PROMPTS[p], true);
            int[][] rows = new int[perPrompt][];
            for (int i = 0; i < perPrompt; i++) {
                int[] text = texts[p * perPrompt + i];
                int[] row = Arrays.copyOf(prompt, prompt.length + text.length);
                System.arraycopy(text, 0, row, prompt.length, text.length);
                rows[i] = row;
            }
            float[][][] logits = model.forward(ForwardRequest.builder(rows).build()).logits();
            for (int i = 0; i < perPrompt; i++) {
                for (int t = 0; t < LENGTH; t++) {
                    float[] l = logits[i][prompt.length - 1 + t];
                    double max = Double.NEGATIVE_INFINITY;
                    for (float v : l) {
                        max = Math.max(max, v);
                    }
                    double sum = 0;
                    for (float v : l) {
                        sum += Math.exp(v - max);
                    }
                    nll -= l[rows[i][prompt.length + t]] - max - Math.log(sum);
                    count++;
                }
            }
        }
        return Math.exp(nll / count);
    }

    private static double quantile(double[] values, double q) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[Math.min(sorted.length - 1, (int) Math.ceil(q * sorted.length) - 1)];
    }
}
