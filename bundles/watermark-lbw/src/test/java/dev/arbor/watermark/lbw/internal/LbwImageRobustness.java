package dev.arbor.watermark.lbw.internal;

import dev.arbor.api.Options;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.image.Png;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.model.StateWrite;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.sampling.internal.SampleSelectorFactory;
import dev.arbor.sampling.internal.TemperatureFactory;
import dev.arbor.sampling.internal.TopKFactory;
import dev.arbor.watermark.WatermarkReport;
import java.awt.image.BufferedImage;
import java.awt.image.DataBufferByte;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.MemoryCacheImageOutputStream;

/**
 * How LBW detection on a re-tokenized PNG survives pixel perturbations (issue 14: Gaussian noise, small shifts,
 * JPEG): each watermarked image is perturbed, written as PNG, decoded, re-tokenized with the pipeline's image
 * tokenizer and scored by {@code watermark-lbw-detect}; per perturbation the mean and median z, the share detected
 * at the detector's alpha and the share of positions whose re-tokenized code is the generated one. The images come
 * from any source — the toy sampler of the tests, a llama2c raster prior ({@link #samplePrior}: the real
 * {@code fashion-ar} model once it is trained) or a directory of PNGs a pipeline wrote ({@link #readPngs}) — so the
 * same measurement runs on every model.
 */
final class LbwImageRobustness {

    /** One pixel-space perturbation; {@code random} is the image's own stream (reproducible per image). */
    interface Perturbation {
        String name();

        float[][] apply(float[][] pixels, SplittableRandom random);
    }

    /** One row of the table. */
    record Row(String perturbation, int images, double meanZ, double medianZ, double detected, double codesKept) {
    }

    static Perturbation none() {
        return perturbation("none (sigma 0)", (p, r) -> copy(p));
    }

    /** Adds N(0, sigma²) to every pixel (clamped to [0, 1] by the PNG). */
    static Perturbation gaussian(double sigma) {
        return perturbation("gaussian sigma " + sigma, (p, r) -> {
            float[][] out = copy(p);
            for (float[] row : out) {
                for (int x = 0; x < row.length; x++) {
                    row[x] += (float) (sigma * r.nextGaussian());
                }
            }
            return out;
        });
    }

    /** Moves the content dx right and dy down; uncovered pixels become 0 (Fashion-MNIST's black background). */
    static Perturbation shift(int dx, int dy) {
        return perturbation("shift " + dx + "," + dy + " px", (p, r) -> {
            int h = p.length;
            int w = p[0].length;
            float[][] out = new float[h][w];
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    int sy = y - dy;
                    int sx = x - dx;
                    out[y][x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? p[sy][sx] : 0f;
                }
            }
            return out;
        });
    }

    /** A gray JPEG round trip at {@code quality} in (0, 1] (javax.imageio's baseline JPEG writer). */
    static Perturbation jpeg(float quality) {
        return perturbation("jpeg quality " + quality, (p, r) -> jpegRoundTrip(p, quality));
    }

    static List<Perturbation> standard() {
        return List.of(none(), gaussian(0.02), gaussian(0.05), gaussian(0.1), shift(1, 0), shift(1, 1),
                shift(2, 0), shift(2, 2), jpeg(0.9f), jpeg(0.75f), jpeg(0.5f));
    }

    /**
     * The table for {@code watermarked} token maps (each decoded to pixels by the tokenizer) and, first, a row
     * for {@code unwatermarked} ones unperturbed (the false-positive rate under the same key; may be empty).
     */
    static List<Row> measure(ImageTokenizer tokenizer, List<int[]> watermarked, List<int[]> unwatermarked,
                             Options detector, List<Perturbation> perturbations, long seed) {
        List<Row> rows = new ArrayList<>();
        if (!unwatermarked.isEmpty()) {
            Row nullRow = measure(tokenizer, unwatermarked, detector, none(), seed);
            rows.add(new Row("unwatermarked, none", nullRow.images(), nullRow.meanZ(), nullRow.medianZ(),
                    nullRow.detected(), nullRow.codesKept()));
        }
        for (Perturbation perturbation : perturbations) {
            rows.add(measure(tokenizer, watermarked, detector, perturbation, seed));
        }
        return rows;
    }

    /**
     * One perturbation over {@code images} (token maps as generated; decoded to pixels, perturbed, PNG,
     * re-tokenized). "codes kept" compares the re-tokenized codes with the generated ones, position by position.
     */
    static Row measure(ImageTokenizer tokenizer, List<int[]> images, Options detector, Perturbation perturbation,
                       long seed) {
        double[] z = new double[images.size()];
        int detected = 0;
        long kept = 0;
        long codes = 0;
        for (int i = 0; i < images.size(); i++) {
            int[] reference = images.get(i);
            float[][] clean = tokenizer.decodeImage(reference);
            float[][] seen = Png.decode(Png.encode(perturbation.apply(clean, new SplittableRandom(seed + 7919L * i))));
            int[] tokens = tokenizer.encodeImage(seen);
            Map<String, Object> report = detect(tokenizer, tokens, seen, detector);
            z[i] = ((Number) report.get("z_score")).doubleValue();
            detected += Boolean.TRUE.equals(report.get("detected")) ? 1 : 0;
            for (int p = 0; p < tokens.length; p++) {
                kept += tokens[p] == reference[p] ? 1 : 0;
            }
            codes += tokens.length;
        }
        double[] sorted = z.clone();
        Arrays.sort(sorted);
        double median = sorted.length == 0 ? Double.NaN : sorted.length % 2 == 1 ? sorted[sorted.length / 2]
                : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
        return new Row(perturbation.name(), images.size(), Arrays.stream(z).average().orElse(Double.NaN), median,
                images.isEmpty() ? Double.NaN : detected / (double) images.size(),
                codes == 0 ? Double.NaN : kept / (double) codes);
    }

    /**
     * {@link #measure(ImageTokenizer, List, Options, Perturbation, long)} with the detector's alignment search of
     * radius {@code radius} (option {@code align_search}; the row's name says so).
     */
    static Row measureWithAlignmentSearch(ImageTokenizer tokenizer, List<int[]> images, Options detector,
                                          Perturbation perturbation, int radius, long seed) {
        Row r = measure(tokenizer, images, detector.with(Options.of(Map.of("align_search", radius))), perturbation,
                seed);
        return new Row(r.perturbation() + ", search ±" + radius + " px", r.images(), r.meanZ(), r.medianZ(),
                r.detected(), r.codesKept());
    }

    /** The path a detector's input takes: pixels to PNG bytes, back to pixels, re-tokenized. */
    static int[] viaPng(ImageTokenizer tokenizer, float[][] pixels) {
        return tokenizer.encodeImage(Png.decode(Png.encode(pixels)));
    }

    /** The detector as {@code PipelineService.analyzeImage} runs it: the PNG's codes, its pixels annotated. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> detect(ImageTokenizer tokenizer, int[] tokens, float[][] pixels, Options detector) {
        return (Map<String, Object>) new LbwDetector().process(new PostProcessor.Output(tokens, "",
                Map.of(PipelineService.IMAGE_PIXELS, pixels)), tokenizer, detector).annotations()
                .get(WatermarkReport.ANNOTATION);
    }

    static String table(String title, List<Row> rows) {
        StringBuilder s = new StringBuilder("#### ").append(title).append("\n\n")
                .append("| perturbation | images | mean z | median z | detected | codes kept |\n")
                .append("|---|---:|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            s.append(String.format("| %s | %d | %.2f | %.2f | %.3f | %.3f |%n", r.perturbation(), r.images(),
                    r.meanZ(), r.medianZ(), r.detected(), r.codesKept()));
        }
        return s.toString();
    }

    // ------------------------------------------------------------------------------------------------ sources

    /**
     * {@code count} images sampled from a llama2c raster prior (class token, then {@code tokensPerImage} codes;
     * ONNX Runtime on the CPU), classes round-robin, request seed {@code seed + i}, sampler chain as a pipeline runs
     * it: {@code watermark} (null = none) first, then only codes allowed (class and control ids of the layout get
     * −∞), temperature, top-k (0 = off), categorical draw. No classifier-free guidance: the watermark sees the
     * conditional row's logits only.
     */
    static List<int[]> samplePrior(Path checkpoint, ImageTokenizer tokenizer, Options watermark, int count, long seed,
                                   double temperature, int topK) {
        int codes = tokenizer.layout().codes();
        int classes = tokenizer.layout().classCount();
        Options sampling = Options.of(Map.of("temperature", temperature, "top_k", topK));
        int perImage = tokenizer.layout().tokensPerImage();
        List<int[]> out = new ArrayList<>();
        try (ModelBackend model = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", Path.of("target/arbor-cache").toAbsolutePath().toString()))))) {
            int vocab = model.card().vocabSize();
            if (vocab < tokenizer.layout().vocabSize()) {
                throw new IllegalArgumentException(checkpoint + " has " + vocab + " logits per row, the tokenizer's"
                        + " layout needs " + tokenizer.layout().vocabSize());
            }
            LogitsProcessor codesOnly = new LogitsProcessor() {
                @Override
                public void process(float[] logits, SamplingContext context) {
                    Arrays.fill(logits, codes, logits.length, Float.NEGATIVE_INFINITY);
                }
            };
            int batch = Math.min(count, 32);
            for (int first = 0; first < count; first += batch) {
                int n = Math.min(batch, count - first);
                Sampler[] samplers = new Sampler[n];
                SamplingContext[] contexts = new SamplingContext[n];
                int[][] rows = new int[n][];
                for (int b = 0; b < n; b++) {
                    List<LogitsProcessor> chain = new ArrayList<>();
                    if (watermark != null) {
                        chain.add(new LbwProcessorFactory().create(watermark));
                    }
                    chain.add(codesOnly);
                    chain.add(new TemperatureFactory().create(sampling));
                    if (topK > 0) {
                        chain.add(new TopKFactory().create(sampling));
                    }
                    samplers[b] = new Sampler(chain, new SampleSelectorFactory().create(sampling));
                    rows[b] = new int[] {tokenizer.layout().classToken((first + b) % classes)};
                    contexts[b] = SamplingContext.seeded(rows[b], vocab, seed + first + b);
                }
                int[][] images = new int[n][perImage];
                try (DecodeState state = model.newState(n)) {
                    ForwardResult result = model.forward(ForwardRequest.builder(rows).state(state)
                            .write(StateWrite.APPEND).lastRowOnly().build());
                    int[][] next = new int[n][1];
                    for (int step = 0; step < perImage; step++) {
                        for (int b = 0; b < n; b++) {
                            int token = samplers[b].sample(result.last(b).clone(), contexts[b]).token();
                            contexts[b].append(token);
                            images[b][step] = token;
                            next[b][0] = token;
                        }
                        if (step + 1 < perImage) {
                            result = model.forward(ForwardRequest.next(next, state));
                        }
                    }
                }
                out.addAll(Arrays.asList(images));
            }
        }
        return out;
    }

    /**
     * The PNGs of {@code dir} (sorted by name), re-tokenized: images a pipeline wrote, e.g. {@code arbor image}. Their
     * generated codes are unknown, so the re-tokenized ones stand in for them ("codes kept" then measures only the
     * perturbation).
     */
    static List<int[]> readPngs(Path dir, ImageTokenizer tokenizer) {
        try (Stream<Path> files = Files.list(dir)) {
            List<int[]> out = new ArrayList<>();
            for (Path file : files.filter(f -> f.toString().endsWith(".png")).sorted().toList()) {
                out.add(tokenizer.encodeImage(Png.decode(Files.readAllBytes(file))));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Options of the detector matching a {@code watermark-lbw} over the codes with {@code key}. */
    static Options detectorOptions(String key, Map<String, Object> pool) {
        Map<String, Object> m = new HashMap<>(pool);
        m.put("key", key);
        m.put("vocab_range", "image");
        return Options.of(m);
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static Perturbation perturbation(String name, java.util.function.BiFunction<float[][], SplittableRandom,
            float[][]> f) {
        return new Perturbation() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public float[][] apply(float[][] pixels, SplittableRandom random) {
                return f.apply(pixels, random);
            }
        };
    }

    static float[][] copy(float[][] p) {
        float[][] out = new float[p.length][];
        for (int y = 0; y < p.length; y++) {
            out[y] = p[y].clone();
        }
        return out;
    }

    static float[][] jpegRoundTrip(float[][] pixels, float quality) {
        int h = pixels.length;
        int w = pixels[0].length;
        BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        byte[] data = ((DataBufferByte) image.getRaster().getDataBuffer()).getData();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                data[y * w + x] = (byte) Math.round(Math.max(0f, Math.min(1f, pixels[y][x])) * 255f);
            }
        }
        ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MemoryCacheImageOutputStream stream = new MemoryCacheImageOutputStream(bytes)) {
            ImageWriteParam param = writer.getDefaultWriteParam();
            param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            param.setCompressionQuality(quality);
            writer.setOutput(stream);
            writer.write(null, new IIOImage(image, null, null), param);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            writer.dispose();
        }
        try {
            BufferedImage read = ImageIO.read(new ByteArrayInputStream(bytes.toByteArray()));
            float[][] out = new float[h][w];
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    out[y][x] = read.getRaster().getSample(x, y, 0) / 255f;
                }
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
