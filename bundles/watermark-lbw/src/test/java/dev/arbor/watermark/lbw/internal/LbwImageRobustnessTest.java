package dev.arbor.watermark.lbw.internal;

import dev.arbor.models.images.VqImageTokenizer;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.models.images.FashionMnist;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Runs {@link LbwImageRobustness} and writes its tables to {@code target/lbw-image-robustness-*.md}.
 *
 * <p>The toy sampler over the committed patch VQ's codes; {@link LbwImageRobustnessHarness} (run on request only)
 * measures a trained prior or a directory of a pipeline's PNGs the same way. Knobs: {@code arbor.lbw.count} (images,
 * default 200), {@code arbor.lbw.bias} (δ, default 4), {@code arbor.lbw.mode} (soft|hard), {@code
 * arbor.lbw.temperature} (default 1), {@code arbor.lbw.top_k} (default 0 = off), {@code arbor.lbw.green_ratio} and
 * {@code arbor.lbw.pool_size} (the pool as the pipeline sets it; default the bundle's), {@code arbor.lbw.search}
 * (radius of the alignment-search rows, default 2, 0 = none). Example:
 * {@code mvn -o -pl bundles/watermark-lbw test -Dtest=LbwImageRobustnessTest -Darbor.lbw.count=500}.
 */
class LbwImageRobustnessTest {
    static final String KEY = "image-robustness-key-73d0";

    static int count() {
        return Integer.getInteger("arbor.lbw.count", 200);
    }

    /** {@code green_ratio} and {@code pool_size} when given as {@code arbor.lbw.*} properties (else the defaults). */
    static Map<String, Object> pool() {
        Map<String, Object> m = new HashMap<>();
        for (String option : List.of("green_ratio", "pool_size")) {
            String value = System.getProperty("arbor.lbw." + option);
            if (value != null) {
                m.put(option, option.equals("pool_size") ? (Object) Integer.parseInt(value)
                        : Double.parseDouble(value));
            }
        }
        return m;
    }

    static Map<String, Object> embedOptions(int codes) {
        Map<String, Object> m = pool();
        m.put("key", KEY);
        m.put("vocab_range", "0:" + codes);
        m.put("bias", Double.parseDouble(System.getProperty("arbor.lbw.bias", "4")));
        m.put("mode", System.getProperty("arbor.lbw.mode", "soft"));
        return m;
    }

    static void write(String name, String table) throws IOException {
        Path out = Path.of("target", "lbw-image-robustness-" + name + ".md");
        Files.createDirectories(out.getParent());
        Files.writeString(out, table);
        System.out.println(table);
    }

    static Path fromRoot(String path) {
        Path p = Path.of(path);
        if (p.isAbsolute()) {
            return p;
        }
        for (Path base = Path.of("").toAbsolutePath(); base != null; base = base.getParent()) {
            if (Files.exists(base.resolve(p))) {
                return base.resolve(p);
            }
        }
        throw new IllegalArgumentException(path + " not found above " + Path.of("").toAbsolutePath());
    }

    @Test
    void toySamplerRobustness() throws IOException {
        List<LbwImageRobustness.Row> rows = toy(CommittedTokenizers.committed(), "toy", "patch VQ");
        LbwImageRobustness.Row clean = rows.get(1);
        assertThat(clean.perturbation()).startsWith("none");
        assertThat(clean.codesKept()).isEqualTo(1.0); // a PNG round trip of a decoded map re-tokenizes exactly
        assertThat(clean.detected()).isGreaterThanOrEqualTo(0.95);
        LbwImageRobustness.Row noisiest = rows.stream().filter(r -> r.perturbation().equals("gaussian sigma 0.1"))
                .findFirst().orElseThrow();
        // the harness perturbs what it says: noise moves codes, a 1 px shift of a 4 px patch grid moves most
        assertThat(noisiest.codesKept()).isLessThan(clean.codesKept());
        LbwImageRobustness.Row shifted = rows.stream().filter(r -> r.perturbation().equals("shift 1,0 px"))
                .findFirst().orElseThrow();
        assertThat(shifted.codesKept()).isLessThan(0.5);
        // the unwatermarked row is the false-positive rate under the same key: far from the watermarked one
        assertThat(rows.get(0).detected()).isLessThan(0.05);
    }

    /** What re-registering a shifted image (searching ±2 px, Bonferroni over 25 alignments) would recover. */
    @Test
    void alignmentSearchRecoversShifts() throws IOException {
        VqImageTokenizer tokenizer = CommittedTokenizers.committed();
        ToyCodeSampler toy = new ToyCodeSampler(tokenizer, Arrays.copyOf(
                FashionMnist.load(FashionMnist.Split.TRAIN).images(), 10_000));
        Map<String, Object> embed = embedOptions(tokenizer.layout().codes());
        int n = Math.min(count(), 100);
        List<int[]> marked = new ArrayList<>();
        List<int[]> plain = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            marked.add(toy.sample(200_000L + i, List.<LogitsProcessor>of(new LbwProcessorFactory().create(
                    Options.of(embed)))));
            plain.add(toy.sample(400_000L + i, List.of()));
        }
        Options detector = LbwImageRobustness.detectorOptions(KEY, pool());
        List<LbwImageRobustness.Row> rows = new ArrayList<>();
        LbwImageRobustness.Row nullRow = LbwImageRobustness.measureWithAlignmentSearch(tokenizer, plain, detector,
                LbwImageRobustness.none(), 2, 11);
        rows.add(new LbwImageRobustness.Row("unwatermarked, " + nullRow.perturbation(), nullRow.images(),
                nullRow.meanZ(), nullRow.medianZ(), nullRow.detected(), nullRow.codesKept()));
        for (LbwImageRobustness.Perturbation p : List.of(LbwImageRobustness.none(), LbwImageRobustness.shift(1, 0),
                LbwImageRobustness.shift(1, 1), LbwImageRobustness.shift(2, 2), LbwImageRobustness.gaussian(0.1))) {
            rows.add(LbwImageRobustness.measureWithAlignmentSearch(tokenizer, marked, detector, p, 2, 11));
        }
        write("alignment", LbwImageRobustness.table("Toy sampler over the patch VQ codes, " + embed.get("mode")
                + " bias " + embed.get("bias") + ", detection with an alignment search (experiment), alpha 0.01",
                rows));
        assertThat(rows.get(0).detected()).isLessThan(0.05);
        assertThat(rows.get(2).detected()).as("shift 1,0 with search").isGreaterThan(0.5);
    }

    /**
     * The multi-scale residual VQ of the next-scale prior: re-encoding a decoded map is not the identity (each
     * scale quantizes the residual the coarser ones left), so even the clean row loses codes.
     */
    @Test
    void toySamplerRobustnessNextScale() throws IOException {
        List<LbwImageRobustness.Row> rows = toy(CommittedTokenizers.committedMultiScale(), "toy-msvq",
                "multi-scale VQ");
        assertThat(rows.get(0).detected()).isLessThan(0.05);
        assertThat(rows.get(1).detected()).isGreaterThan(rows.get(0).detected());
        // the best case, coherent maps: codes of real test images, decoded, PNG, re-encoded
        VqImageTokenizer tokenizer = CommittedTokenizers.committedMultiScale();
        float[][] test = FashionMnist.load(FashionMnist.Split.TEST).images();
        long kept = 0;
        long all = 0;
        for (int i = 0; i < 500; i++) {
            int[] codes = tokenizer.encodeImage(LbwImageTest.rows(test[i]));
            int[] again = LbwImageRobustness.viaPng(tokenizer, tokenizer.decodeImage(codes));
            for (int p = 0; p < codes.length; p++) {
                kept += codes[p] == again[p] ? 1 : 0;
            }
            all += codes.length;
        }
        String line = String.format("multi-scale VQ: codes of 500 real test images re-encoded after decode + PNG:"
                + " %.3f kept (toy samples: %.3f)%n", kept / (double) all, rows.get(1).codesKept());
        System.out.print(line);
        Files.writeString(Path.of("target", "lbw-image-robustness-toy-msvq.md"), line,
                java.nio.file.StandardOpenOption.APPEND);
    }

    List<LbwImageRobustness.Row> toy(VqImageTokenizer tokenizer, String name, String what) throws IOException {
        ToyCodeSampler toy = new ToyCodeSampler(tokenizer, Arrays.copyOf(
                FashionMnist.load(FashionMnist.Split.TRAIN).images(), 10_000));
        Map<String, Object> embed = embedOptions(tokenizer.layout().codes());
        List<int[]> marked = new ArrayList<>();
        List<int[]> plain = new ArrayList<>();
        for (int i = 0; i < count(); i++) {
            marked.add(toy.sample(200_000L + i, List.<LogitsProcessor>of(new LbwProcessorFactory().create(
                    Options.of(embed)))));
            plain.add(toy.sample(400_000L + i, List.of()));
        }
        List<LbwImageRobustness.Row> rows = LbwImageRobustness.measure(tokenizer, marked, plain,
                LbwImageRobustness.detectorOptions(KEY, pool()), LbwImageRobustness.standard(), 11);
        write(name, LbwImageRobustness.table("Toy sampler over the " + what + " codes, " + embed.get("mode")
                + " bias " + embed.get("bias") + ", alpha 0.01", rows));
        return rows;
    }

    /** Rows with the alignment search of radius {@code arbor.lbw.search} (default 2; 0 = none). */
    static List<LbwImageRobustness.Row> searchRows(VqImageTokenizer tokenizer, List<int[]> marked, List<int[]> plain,
                                                   Options detector) {
        int radius = Integer.getInteger("arbor.lbw.search", 2);
        List<LbwImageRobustness.Row> rows = new ArrayList<>();
        if (radius <= 0) {
            return rows;
        }
        if (!plain.isEmpty()) {
            LbwImageRobustness.Row r = LbwImageRobustness.measureWithAlignmentSearch(tokenizer, plain, detector,
                    LbwImageRobustness.none(), radius, 11);
            rows.add(new LbwImageRobustness.Row("unwatermarked, " + r.perturbation(), r.images(), r.meanZ(),
                    r.medianZ(), r.detected(), r.codesKept()));
        }
        for (LbwImageRobustness.Perturbation p : List.of(LbwImageRobustness.none(), LbwImageRobustness.shift(1, 0),
                LbwImageRobustness.shift(1, 1), LbwImageRobustness.shift(2, 2))) {
            rows.add(LbwImageRobustness.measureWithAlignmentSearch(tokenizer, marked, detector, p, radius, 11));
        }
        return rows;
    }

    /**
     * The prior source runs end to end on a llama2c checkpoint of the image layout's vocabulary (a random one here,
     * {@code fashion-ar} in the integration rerun): whole images of codes only, one class per row, and in hard mode
     * only codes of each image's own list.
     */
    @Test
    void priorSourceSamplesCodesFromALlama2cCheckpoint() throws IOException {
        VqImageTokenizer tokenizer = CommittedTokenizers.committed();
        Path checkpoint = Path.of("target", "random-fashion-prior.bin").toAbsolutePath();
        dev.arbor.models.llama2c.RandomLlama2cCheckpoint.write(new dev.arbor.models.llama2c.Llama2cConfig(16, 32, 1,
                2, 2, tokenizer.layout().vocabSize(), 64, true), 42, checkpoint);
        int codes = tokenizer.layout().codes();
        Map<String, Object> hard = new HashMap<>(Map.of("key", KEY, "vocab_range", "0:" + codes, "mode", "hard"));
        List<int[]> marked = LbwImageRobustness.samplePrior(checkpoint, tokenizer, Options.of(hard), 12, 5, 1.0, 0);
        List<int[]> plain = LbwImageRobustness.samplePrior(checkpoint, tokenizer, null, 12, 5, 1.0, 0);
        LbwScheme scheme = LbwScheme.from(Options.of(hard), "t");
        java.util.function.Predicate<int[]> insideOneList = image -> {
            for (int n = 0; n < scheme.poolSize; n++) {
                java.util.BitSet list = scheme.list(n, 0, codes);
                if (Arrays.stream(image).allMatch(list::get)) {
                    return true;
                }
            }
            return false;
        };
        for (List<int[]> images : List.of(marked, plain)) {
            assertThat(images).hasSize(12).allSatisfy(image -> assertThat(image).hasSize(49)
                    .satisfies(i -> assertThat(Arrays.stream(i).allMatch(t -> t >= 0 && t < codes)).isTrue()));
        }
        // hard mode: every code of an image lies in one list of the pool (the image's own); unwatermarked images
        // of a near-uniform random prior never do (49 codes inside one quarter of the codebook)
        assertThat(marked).allMatch(insideOneList);
        assertThat(plain).noneMatch(insideOneList);
    }

    @Test
    void perturbationsDoWhatTheirNamesSay() {
        float[][] p = new float[28][28];
        SplittableRandom r = new SplittableRandom(3);
        for (float[] row : p) {
            for (int x = 0; x < 28; x++) {
                row[x] = (float) r.nextDouble();
            }
        }
        float[][] shifted = LbwImageRobustness.shift(2, 1).apply(p, new SplittableRandom(1));
        assertThat(shifted[1][2]).isEqualTo(p[0][0]);
        assertThat(shifted[27][27]).isEqualTo(p[26][25]);
        assertThat(shifted[0][5]).isZero();
        assertThat(shifted[5][1]).isZero();
        assertThat(LbwImageRobustness.none().apply(p, new SplittableRandom(1))).isDeepEqualTo(p);
        float[][] noisy = LbwImageRobustness.gaussian(0.1).apply(p, new SplittableRandom(1));
        double sum = 0;
        for (int y = 0; y < 28; y++) {
            for (int x = 0; x < 28; x++) {
                sum += (noisy[y][x] - p[y][x]) * (noisy[y][x] - p[y][x]);
            }
        }
        assertThat(Math.sqrt(sum / 784)).isBetween(0.09, 0.11);
        float[][] jpeg = LbwImageRobustness.jpeg(0.5f).apply(p, new SplittableRandom(1));
        assertThat(jpeg.length).isEqualTo(28);
        assertThat(jpeg).isNotEqualTo(p);
    }
}
