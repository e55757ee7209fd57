package dev.arbor.benchmarks;

import dev.arbor.api.Options;
import dev.arbor.api.image.Png;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.benchmarks.plot.SvgChart;
import dev.arbor.forge.FashionJudge;
import dev.arbor.forge.FrechetDistance;
import dev.arbor.launcher.ArborFramework;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.images.PatchGrid;
import dev.arbor.models.images.CoarseToFineImageTokenizer;
import dev.arbor.models.images.VqImageTokenizer;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The image table of BENCHMARKS.md: raster AR, VAR next-scale, SJD and GSD on the forge's Fashion-MNIST priors, with
 * guidance on and off, through the assembled runtime (Felix, pipeline service, ONNX Runtime backend, the
 * {@code image-png} post-processor). Per strategy: backend forwards per image, wall time per image, class accuracy of
 * the generated images by the forge's classifier ({@link FashionJudge}, relative to its accuracy on the real test
 * images) and the Fréchet distance of its features against the same number of test images, next to the real-vs-real
 * floor of that sample size (test images against training images). Also the CFG-scale sweep (SVG) and a grid of
 * samples per strategy (PNG, one row per class).
 *
 * <pre>java @argfile dev.arbor.benchmarks.ImageBenchmark DIST OUT [per-class] [sweep-per-class]</pre>
 */
public final class ImageBenchmark {
    private static final int CLASSES = 10;
    private static final int GRID_COLUMNS = 10;
    /** Untimed requests before each variant's measured ones. */
    private static final int WARM_UP = 3;

    /** Every measured configuration, in table order (part 1's strategies, then part 2's). */
    private static final List<Variant> VARIANTS = List.of(
            new Variant("raster AR, CFG", "fashion-ar", Map.of()),
            new Variant("raster AR, no CFG", "fashion-ar", Map.of("guidance_scale", 1.0)),
            new Variant("VAR next-scale, CFG", "fashion-var", Map.of()),
            new Variant("VAR next-scale, no CFG", "fashion-var", Map.of("guidance_scale", 0.0)),
            new Variant("SJD (raster, CFG), window 16", "fashion-ar-sjd", Map.of()),
            new Variant("GSD (raster, CFG), window 16", "fashion-ar-gsd", Map.of()),
            new Variant("GSD (raster, CFG), window 8", "fashion-ar-gsd", Map.of("window", 8)),
            new Variant("raster AR, CFG, LBW watermark (green ratio 0.5, bias 4)", "fashion-ar-watermarked", Map.of()),
            new Variant("NBP next-block (row blocks of 7, hybrid start), CFG", "fashion-nbp", Map.of()),
            new Variant("NBP next-block (row blocks of 7, hybrid start), no CFG", "fashion-nbp",
                    Map.of("guidance_scale", 1.0)),
            new Variant("xAR next-cell flow matching, CFG ramp", "fashion-xar", Map.of()),
            new Variant("xAR next-cell flow matching, no CFG", "fashion-xar", Map.of("guidance_scale", 1.0)),
            new Variant("xAR next-cell, Euler-Maruyama, CFG ramp", "fashion-xar",
                    Map.of("sampler", "euler_maruyama")),
            new Variant("xAR next-cell, 8 Euler steps per cell, CFG ramp", "fashion-xar", Map.of("num_steps", 8)),
            new Variant("Token-Shuffle (2x2 windows, 4 heads), CFG", "fashion-shuffle", Map.of()),
            new Variant("Token-Shuffle (2x2 windows, 4 heads), no CFG", "fashion-shuffle",
                    Map.of("guidance_scale", 1.0)),
            new Variant("DetailFlow next-detail (group-parallel), CFG", "fashion-detailflow", Map.of()),
            new Variant("DetailFlow next-detail (group-parallel), no CFG", "fashion-detailflow",
                    Map.of("guidance_scale", 1.0)),
            new Variant("DetailFlow next-detail (group-parallel), gradual CFG s = 5", "fashion-detailflow",
                    Map.of("guidance_scale", 5.0, "gradual_cfg", true)),
            new Variant("DD teacher: raster AR with the flow-map sampler, CFG", "fashion-ar-flowmap", Map.of()),
            new Variant("DD student, one step", "fashion-dd", Map.of()),
            new Variant("DD student, two steps (t_list 0,24)", "fashion-dd", Map.of("t_list", "0,24")),
            new Variant("VF prompt (full-view tokens first), CFG", "fashion-vf", Map.of()),
            new Variant("VF prompt (full-view tokens first), no CFG", "fashion-vf", Map.of("guidance_scale", 1.0)),
            new Variant("continuous AR target only (Gaussian head), CFG, temperature 0.2", "fashion-cgauss", Map.of()),
            new Variant("continuous AR target only (Gaussian head), CFG, temperature 1", "fashion-cgauss", Map.of(),
                    Map.of("temperature", 1.0)),
            new Variant("CSpD (continuous draft + target, textbook acceptance), CFG, temperature 1", "fashion-cspd",
                    Map.of()),
            new Variant("CSpD, as-coded acceptance (T = 42), CFG, temperature 1", "fashion-cspd",
                    Map.of("mode", "as_coded")),
            new Variant("CSpD, textbook acceptance, CFG, temperature 0.2", "fashion-cspd", Map.of(),
                    Map.of("temperature", 0.2)));
    /** The watermark key of the benchmark's {@code fashion-ar-watermarked} (a fixed value: results repeat). */
    private static final String WATERMARK_KEY = "424242";

    /** One measured configuration: a shipped pipeline, optionally with other generator and request options. */
    record Variant(String label, String pipeline, Map<String, Object> generatorOptions,
                   Map<String, Object> requestOptions) {
        Variant(String label, String pipeline, Map<String, Object> generatorOptions) {
            this(label, pipeline, generatorOptions, Map.of());
        }
    }

    /** What one variant produced. */
    record Run(Variant variant, float[][] images, int[] labels, double forwardsPerImage, double msPerImage,
               int watermarkDetected, double acceptanceRate) {
    }

    private ImageBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path dist = Path.of(args.length > 0 ? args[0] : "distribution/target/arbor").toAbsolutePath();
        Path out = Path.of(args.length > 1 ? args[1] : "benchmarks/results/images").toAbsolutePath();
        int perClass = args.length > 2 ? Integer.parseInt(args[2]) : 100;
        int sweepPerClass = args.length > 3 ? Integer.parseInt(args[3]) : 30;
        // optional: only the variants of these pipelines (comma-separated), e.g. while one strategy is developed
        Set<String> only = args.length > 4 && !args[4].isBlank() ? Set.of(args[4].split(",")) : null;
        List<Variant> variants = VARIANTS.stream().filter(v -> only == null || only.contains(v.pipeline())).toList();
        List<String> pipelineNames = variants.stream().map(Variant::pipeline).distinct().toList();
        if (variants.isEmpty()) {
            throw new IllegalArgumentException("no variant measures the pipelines " + only + "; known: "
                    + VARIANTS.stream().map(Variant::pipeline).distinct().toList());
        }
        Files.createDirectories(out);
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.offline", "true");

        Path cache = Files.createTempDirectory("arbor-bench-cache");
        Path home = Files.createTempDirectory("arbor-bench-home");
        Files.createDirectories(home.resolve("etc/pipelines"));
        Files.createSymbolicLink(home.resolve("bundles"), dist.resolve("bundles"));
        Files.createSymbolicLink(home.resolve("models"), dist.resolve("models"));
        Files.createSymbolicLink(home.resolve("etc/models"), dist.resolve("etc/models"));
        for (String p : pipelineNames) {
            Files.copy(dist.resolve("etc/pipelines/" + p + ".json"), home.resolve("etc/pipelines/" + p + ".json"));
        }
        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        FashionMnist train = FashionMnist.load(FashionMnist.Split.TRAIN);
        StringBuilder report = new StringBuilder();
        try (ArborFramework runtime = ArborFramework.start(home, null, Map.of(
                "org.osgi.framework.system.packages.extra", RuntimeHarness.API_PACKAGES,
                "arbor.launcher.skip", "arbor-api\\.jar", "arbor.cache", cache.toString(),
                "arbor.etc.poll.ms", "0", "arbor.watermark.key", WATERMARK_KEY));
             FashionJudge judge = FashionJudge.load(Path.of("models/trained/fashion-judge/fashion-judge.params"), 1)) {
            PipelineService pipelines = null;
            for (String p : pipelineNames) {
                pipelines = BenchmarkRuntime.awaitReady(runtime, p);
            }
            double realAccuracy = judge.accuracy(test.images(), test.labels());
            int n = perClass * CLASSES;
            float[][] testFeatures = judge.features(stratified(test, perClass, 0));
            double floor = FrechetDistance.between(judge.features(stratified(train, perClass, 7)), testFeatures);
            report.append(String.format(Locale.ROOT, "date %s; %d images per strategy (%d per class, seeds 0..%d); "
                            + "classifier accuracy on the %d real test images %.4f; real-vs-real Fréchet floor "
                            + "(%d train vs %d test images) %.3f%n%n", LocalDate.now(), n, perClass, perClass - 1,
                    test.size(), realAccuracy, n, n, floor));
            report.append("| strategy | forwards per image | ms per image | class accuracy | vs real | Fréchet "
                    + "distance | vs floor |\n|---|---|---|---|---|---|---|\n");
            float[][] originals = stratified(train, perClass, 7);
            for (String file : List.of("fashion-patch-vq.bin", "fashion-msvq.bin")) {
                VqImageTokenizer tokenizer = VqImageTokenizer.read(dist.resolve("models/fashion-vq/" + file),
                        VqImageTokenizer.FASHION_CLASSES);
                float[][] reconstructed = new float[originals.length][];
                for (int i = 0; i < originals.length; i++) {
                    reconstructed[i] = PatchGrid.flatten(tokenizer.decodeImage(tokenizer.encodeImage(
                            PatchGrid.rows(originals[i]))), "the benchmark");
                }
                double fd = FrechetDistance.between(judge.features(reconstructed), testFeatures);
                double accuracy = judge.accuracy(reconstructed, labels(perClass));
                report.append(String.format(Locale.ROOT, "| %s reconstruction of %d training images (the tokenizer's "
                                + "bound) | – | – | %.3f | %.2f | %.2f | %.2f |%n", file, originals.length, accuracy,
                        accuracy / realAccuracy, fd, fd / floor));
            }
            if (pipelineNames.contains("fashion-detailflow")) {
                // the 1D coarse-to-fine tokenizer's bound, as the VQ files' rows above
                CoarseToFineImageTokenizer detail = CoarseToFineImageTokenizer.read(
                        dist.resolve("models/fashion-detail-vq/fashion-detail-vq.bin"), VqImageTokenizer.FASHION_CLASSES);
                float[][] reconstructed = new float[originals.length][];
                for (int i = 0; i < originals.length; i++) {
                    reconstructed[i] = PatchGrid.flatten(detail.decodeImage(detail.encodeImage(
                            PatchGrid.rows(originals[i]))), "the benchmark");
                }
                double fd = FrechetDistance.between(judge.features(reconstructed), testFeatures);
                double accuracy = judge.accuracy(reconstructed, labels(perClass));
                report.append(String.format(Locale.ROOT, "| fashion-detail-vq.bin reconstruction of %d training images"
                                + " (the tokenizer's bound) | – | – | %.3f | %.2f | %.2f | %.2f |%n", originals.length,
                        accuracy, accuracy / realAccuracy, fd, fd / floor));
            }
            for (Variant v : variants) {
                Run run = generate(runtime, pipelines, v, perClass);
                double accuracy = judge.accuracy(run.images(), run.labels());
                double fd = FrechetDistance.between(judge.features(run.images()), testFeatures);
                report.append(String.format(Locale.ROOT, "| %s | %.2f | %.1f | %.3f | %.2f | %.2f | %.2f |%n",
                        v.label(), run.forwardsPerImage(), run.msPerImage(), accuracy, accuracy / realAccuracy, fd,
                        fd / floor));
                if (!Double.isNaN(run.acceptanceRate())) {
                    report.append(String.format(Locale.ROOT, "%n(%s: mean acceptance rate of drafted tokens %.3f)%n%n",
                            v.label(), run.acceptanceRate()));
                }
                if (run.watermarkDetected() > 0) {
                    report.append(String.format(Locale.ROOT, "%n(%s: the detector flags %d of %d generated images "
                            + "from their tokens)%n%n", v.label(), run.watermarkDetected(), n));
                }
                writeGrid(run, out.resolve(slug(v.label()) + ".png"));
                System.out.print(report);
                report.setLength(0);
            }
            if (sweepPerClass > 0 && pipelineNames.containsAll(List.of("fashion-ar", "fashion-var"))) {
                System.out.println(sweep(runtime, pipelines, judge, test, perClass, sweepPerClass, testFeatures, out));
            }
        }
    }

    /** CFG-scale sweep of raster AR (LlamaGen's s) and VAR (t at the last scale, weight 1 + t); an SVG plot. */
    private static String sweep(ArborFramework runtime, PipelineService pipelines, FashionJudge judge, FashionMnist test, int perClass,
                                int sweepPerClass, float[][] testFeatures, Path out) throws Exception {
        double[] rasterScales = {1.0, 1.5, 2.0, 3.0, 4.0, 6.0};
        double[] varScales = {0.0, 0.5, 1.0, 2.0, 3.0, 5.0};
        float[][] sweepTest = judge.features(stratified(test, sweepPerClass, 0));
        StringBuilder s = new StringBuilder(String.format(Locale.ROOT, "%nCFG sweep, %d images per point%n"
                + "| strategy | scale | guidance weight at full strength | class accuracy | Fréchet distance |%n"
                + "|---|---|---|---|---|%n", sweepPerClass * CLASSES));
        List<SvgChart.Series> accuracy = new ArrayList<>();
        List<SvgChart.Series> distance = new ArrayList<>();
        for (String pipeline : List.of("fashion-ar", "fashion-var")) {
            boolean var = pipeline.equals("fashion-var");
            double[] scales = var ? varScales : rasterScales;
            double[] weights = new double[scales.length];
            double[] acc = new double[scales.length];
            double[] fd = new double[scales.length];
            for (int i = 0; i < scales.length; i++) {
                Run run = generate(runtime, pipelines, new Variant(pipeline + " s=" + scales[i], pipeline,
                        Map.of("guidance_scale", scales[i])), sweepPerClass);
                weights[i] = var ? 1 + scales[i] : scales[i];
                acc[i] = judge.accuracy(run.images(), run.labels());
                fd[i] = FrechetDistance.between(judge.features(run.images()), sweepTest);
                s.append(String.format(Locale.ROOT, "| %s | %.1f | %.1f | %.3f | %.2f |%n", pipeline, scales[i],
                        weights[i], acc[i], fd[i]));
            }
            String name = var ? "VAR next-scale (linear ramp)" : "raster AR (constant)";
            accuracy.add(new SvgChart.Series(name, weights, acc));
            distance.add(new SvgChart.Series(name, weights, fd));
        }
        SvgChart.lines("Classifier-free guidance on the Fashion-MNIST priors (" + sweepPerClass * CLASSES
                        + " images per point)", "guidance weight w (uncond + w(cond - uncond))", "",
                List.of(new SvgChart.LinePanel("class accuracy", accuracy),
                        new SvgChart.LinePanel("Fréchet distance (classifier features)", distance)),
                out.resolve("cfg-sweep.svg"));
        return s.toString();
    }

    private static Run generate(ArborFramework runtime, PipelineService pipelines, Variant v, int perClass) throws Exception {
        String name = v.pipeline();
        if (!v.generatorOptions().isEmpty()) {
            PipelineDefinition original = pipelines.status(v.pipeline()).orElseThrow().definition();
            PartRef g = original.generator();
            name = v.pipeline() + "-bench-" + Math.abs(v.label().hashCode());
            pipelines.define(new PipelineDefinition(name, v.label(), original.model(), original.tokenizer(),
                    new PartRef(g.name(), g.options().with(Options.of(v.generatorOptions()))), original.processors(),
                    original.selector(), original.postProcessors(), original.defaults(), original.overrides()));
            BenchmarkRuntime.awaitReady(runtime, name);
        }
        int n = perClass * CLASSES;
        // warm-up (not timed): the first requests of a freshly opened model pay for session and cache set-up
        for (int w = 0; w < WARM_UP; w++) {
            Map<String, Object> request = new LinkedHashMap<>(v.requestOptions());
            request.put("seed", 9_000_000L + w);
            pipelines.complete(CompletionRequest.text(name, Integer.toString(w % CLASSES), Options.of(request)),
                    TextSink.DISCARD);
        }
        float[][] images = new float[n][];
        int[] labels = new int[n];
        double acceptance = 0;
        int accepting = 0;
        long forwards = 0;
        long nanos = 0;
        int detected = 0;
        int i = 0;
        for (int k = 0; k < CLASSES; k++) {
            for (int j = 0; j < perClass; j++) {
                Map<String, Object> request = new LinkedHashMap<>(v.requestOptions());
                request.put("seed", 1_000L * k + j);
                Completion c = pipelines.complete(CompletionRequest.text(name, Integer.toString(k),
                        Options.of(request)), TextSink.DISCARD);
                Object png = c.stats().get("image");
                if (!(png instanceof byte[] bytes)) {
                    throw new IllegalStateException(v.label() + ": no PNG annotation 'image' in " + c.stats().keySet());
                }
                images[i] = PatchGrid.flatten(Png.decode(bytes), "the benchmark");
                labels[i++] = k;
                forwards += ((Number) c.stats().get("forward_passes")).longValue();
                for (Map.Entry<String, Object> e : c.stats().entrySet()) {
                    if (e.getKey().endsWith("acceptance_rate") && e.getValue() instanceof Number rate) {
                        acceptance += rate.doubleValue();
                        accepting++;
                    }
                }
                if (c.stats().get("watermark") instanceof Map<?, ?> report && Boolean.TRUE.equals(report.get("detected"))) {
                    detected++;
                }
                nanos += c.totalNanos();
            }
        }
        return new Run(v, images, labels, forwards / (double) n, nanos / 1e6 / n, detected,
                accepting == 0 ? Double.NaN : acceptance / accepting);
    }

    /** {@code perClass} images of every class, the {@code offset}-th onwards of each class in file order. */
    static float[][] stratified(FashionMnist data, int perClass, int offset) {
        float[][] out = new float[perClass * CLASSES][];
        int[] seen = new int[CLASSES];
        int[] taken = new int[CLASSES];
        for (int i = 0; i < data.size(); i++) {
            int k = data.label(i);
            if (seen[k]++ >= offset && taken[k] < perClass) {
                out[k * perClass + taken[k]++] = data.image(i);
            }
        }
        for (int k = 0; k < CLASSES; k++) {
            if (taken[k] < perClass) {
                throw new IllegalStateException("class " + k + " has fewer than " + (offset + perClass) + " images");
            }
        }
        return out;
    }

    private static int[] labels(int perClass) {
        int[] labels = new int[perClass * CLASSES];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i / perClass;
        }
        return labels;
    }

    /** One row per class, the first {@value #GRID_COLUMNS} samples, drawn twice as large with a 2 px gap. */
    static void writeGrid(Run run, Path png) throws IOException {
        int perClass = run.images().length / CLASSES;
        int cols = Math.min(GRID_COLUMNS, perClass);
        int cell = FashionMnist.SIDE * 2 + 2;
        float[][] grid = new float[CLASSES * cell + 2][cols * cell + 2];
        for (float[] row : grid) {
            Arrays.fill(row, 1f);
        }
        for (int k = 0; k < CLASSES; k++) {
            for (int c = 0; c < cols; c++) {
                float[] image = run.images()[k * perClass + c];
                for (int y = 0; y < FashionMnist.SIDE * 2; y++) {
                    for (int x = 0; x < FashionMnist.SIDE * 2; x++) {
                        grid[2 + k * cell + y][2 + c * cell + x] = image[(y / 2) * FashionMnist.SIDE + x / 2];
                    }
                }
            }
        }
        Files.write(png, Png.encode(grid));
    }

    private static String slug(String label) {
        return label.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9]+", "-").replaceAll("(^-|-$)", "");
    }
}
