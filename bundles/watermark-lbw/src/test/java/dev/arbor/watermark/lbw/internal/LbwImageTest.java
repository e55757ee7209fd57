package dev.arbor.watermark.lbw.internal;

import dev.arbor.models.images.VqImageTokenizer;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.image.Png;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.watermark.WatermarkReport;
import dev.arbor.watermark.WatermarkStatistics;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.commons.math3.distribution.BinomialDistribution;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * LBW on image tokens (METHODS.md §3.3; issue 14): green lists over the image tokenizer's code range only, embedded
 * by the {@code watermark-lbw} processor with {@code vocab_range 0:K}, detected by {@code watermark-lbw-detect} with
 * {@code vocab_range image} on a PNG decoded and re-tokenized — the path {@code arbor watermark detect --image} and
 * {@code image_b64} take. Tokenizer: the committed Fashion-MNIST patch VQ (K = 512, 49 tokens per image).
 */
class LbwImageTest {
    static final double ALPHA = 0.01;
    static final int NULL_IMAGES = 2000;
    static final int TOY_NULL = 1000;
    static final int MARKED = 300;
    static final String KEY = "image-watermark-test-key-5c1e";
    private static VqImageTokenizer tokenizer;
    private static FashionMnist test;
    private static ToyCodeSampler toy;

    @BeforeAll
    static void load() {
        tokenizer = CommittedTokenizers.committed();
        test = FashionMnist.load(FashionMnist.Split.TEST);
        float[][] train = Arrays.copyOf(FashionMnist.load(FashionMnist.Split.TRAIN).images(), 10_000);
        toy = new ToyCodeSampler(tokenizer, train);
    }

    static String codeRange() {
        return "0:" + tokenizer.layout().codes();
    }

    static LogitsProcessor embed(String key, Object... kv) {
        Map<String, Object> m = new java.util.HashMap<>(Map.of("key", key, "vocab_range", codeRange()));
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return new LbwProcessorFactory().create(Options.of(m));
    }

    /** What a detector sees of a token map once it became a PNG: decode, PNG bytes, decode PNG, re-tokenize. */
    static int[] viaPng(int[] tokens) {
        return tokenizer.encodeImage(Png.decode(Png.encode(tokenizer.decodeImage(tokens))));
    }

    static float[][] rows(float[] image) {
        float[][] pixels = new float[28][28];
        for (int y = 0; y < 28; y++) {
            System.arraycopy(image, y * 28, pixels[y], 0, 28);
        }
        return pixels;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> detect(int[] tokens, String key, Object... kv) {
        Map<String, Object> m = new java.util.HashMap<>(Map.of("key", key, "vocab_range", "image"));
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return (Map<String, Object>) new LbwDetector().process(new PostProcessor.Output(tokens, "", Map.of()),
                tokenizer, Options.of(m)).annotations().get(WatermarkReport.ANNOTATION);
    }

    static double p(Map<String, Object> report) {
        return ((Number) report.get("p_value")).doubleValue();
    }

    static String randomKey(int i) {
        return "null-key-" + i + "-" + Long.toHexString(new SplittableRandom(0x1B5 + i).nextLong());
    }

    /** The exact two-sided 99.9 % binomial interval of false positives among {@code n} at rate alpha. */
    static int[] interval(int n) {
        BinomialDistribution b = new BinomialDistribution(null, n, ALPHA);
        return new int[] {b.inverseCumulativeProbability(0.0005), b.inverseCumulativeProbability(0.9995)};
    }

    @Test
    void falsePositivesOnRealTestImagesAreNominal() {
        int flagged = 0;
        int flaggedOneKey = 0;
        for (int i = 0; i < NULL_IMAGES; i++) {
            int[] tokens = tokenizer.encodeImage(Png.decode(Png.encode(rows(test.images()[i]))));
            flagged += p(detect(tokens, randomKey(i))) <= ALPHA ? 1 : 0;
            flaggedOneKey += p(detect(tokens, KEY)) <= ALPHA ? 1 : 0;
        }
        int[] allowed = interval(NULL_IMAGES);
        System.out.printf("LBW images: false positives at alpha %.2f over %d Fashion-MNIST test images (PNG,"
                + " re-tokenized): %d with a random key each (99.9%% interval %d..%d), %d with one fixed key%n",
                ALPHA, NULL_IMAGES, flagged, allowed[0], allowed[1], flaggedOneKey);
        assertThat(flagged).isBetween(allowed[0], allowed[1]);
    }

    /** The same null through the next-scale prior's multi-scale VQ (104 codes per image). */
    @Test
    void falsePositivesOnRealTestImagesAreNominalForTheMultiScaleTokenizer() {
        VqImageTokenizer multiScale = CommittedTokenizers.committedMultiScale();
        int n = 1000;
        int flagged = 0;
        for (int i = 0; i < n; i++) {
            int[] tokens = multiScale.encodeImage(Png.decode(Png.encode(rows(test.images()[NULL_IMAGES + i]))));
            @SuppressWarnings("unchecked")
            Map<String, Object> r = (Map<String, Object>) new LbwDetector().process(new PostProcessor.Output(tokens,
                    "", Map.of()), multiScale, Options.of(Map.of("key", randomKey(i), "vocab_range", "image")))
                    .annotations().get(WatermarkReport.ANNOTATION);
            assertThat(((Number) r.get("tokens_scored")).longValue()).isEqualTo(104);
            flagged += p(r) <= ALPHA ? 1 : 0;
        }
        int[] allowed = interval(n);
        System.out.printf("LBW images: false positives at alpha %.2f over %d Fashion-MNIST test images through the"
                + " multi-scale VQ (104 codes), random keys: %d (99.9%% interval %d..%d)%n", ALPHA, n, flagged,
                allowed[0], allowed[1]);
        assertThat(flagged).isBetween(allowed[0], allowed[1]);
    }

    @Test
    void falsePositivesOnUnwatermarkedToySamplesAreNominal() {
        int flagged = 0;
        for (int i = 0; i < TOY_NULL; i++) {
            flagged += p(detect(viaPng(toy.sample(50_000L + i, List.of())), randomKey(i))) <= ALPHA ? 1 : 0;
        }
        int[] allowed = interval(TOY_NULL);
        System.out.printf("LBW images: false positives at alpha %.2f over %d unwatermarked toy samples (PNG,"
                + " re-tokenized), random keys: %d (99.9%% interval %d..%d)%n", ALPHA, TOY_NULL, flagged, allowed[0],
                allowed[1]);
        assertThat(flagged).isBetween(allowed[0], allowed[1]);
    }

    @Test
    void watermarkedToySamplesAreDetectedAfterAPngRoundTrip() {
        StringBuilder line = new StringBuilder();
        double[] rates = new double[5];
        Object[][] settings = {{"bias", 1.0}, {"bias", 2.0}, {"bias", 4.0}, {"bias", 8.0}, {"mode", "hard"}};
        for (int s = 0; s < settings.length; s++) {
            int detected = 0;
            double z = 0;
            for (int i = 0; i < MARKED; i++) {
                Map<String, Object> r = detect(viaPng(toy.sample(90_000L + i, List.of(embed(KEY, settings[s])))), KEY);
                detected += Boolean.TRUE.equals(r.get("detected")) ? 1 : 0;
                z += ((Number) r.get("z_score")).doubleValue() / MARKED;
            }
            rates[s] = detected / (double) MARKED;
            line.append(String.format(" %s %s: TPR %.3f (mean z %.2f);", settings[s][0], settings[s][1], rates[s], z));
        }
        System.out.println("LBW images: detection at alpha 0.01 of " + MARKED + " watermarked toy samples (PNG,"
                + " re-tokenized):" + line);
        assertThat(rates[2]).as("TPR at bias 4").isGreaterThanOrEqualTo(0.5);
        assertThat(rates[4]).as("TPR in hard mode").isGreaterThanOrEqualTo(0.95);
        assertThat(rates[0]).as("TPR grows with the bias").isLessThanOrEqualTo(rates[2]);
    }

    /** What {@code analyzeImage} hands the detector: the PNG's codes and its pixels. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> detectImage(float[][] pixels, String key, int alignSearch) {
        float[][] seen = Png.decode(Png.encode(pixels));
        return (Map<String, Object>) new LbwDetector().process(new PostProcessor.Output(tokenizer.encodeImage(seen),
                "", Map.of(dev.arbor.api.pipeline.PipelineService.IMAGE_PIXELS, seen)), tokenizer, Options.of(Map.of(
                "key", key, "vocab_range", "image", "align_search", alignSearch))).annotations()
                .get(WatermarkReport.ANNOTATION);
    }

    /**
     * The alignment search keeps the false-positive rate at most alpha (Bonferroni over 25 alignments: at most, not
     * exactly, so only the upper bound is tested) and recovers watermarks from shifted images, which plain
     * detection loses.
     */
    @Test
    void alignmentSearchRecoversShiftedImagesAndKeepsTheFalsePositiveBound() {
        int n = 1000;
        int flagged = 0;
        for (int i = 0; i < n; i++) {
            flagged += p(detectImage(rows(test.images()[i]), randomKey(i), 2)) <= ALPHA ? 1 : 0;
        }
        int[] allowed = interval(n);
        int marked = 100;
        int[] plain = new int[3];
        int[] searched = new int[3];
        int[][] shifts = {{1, 0}, {1, 1}, {2, 2}};
        for (int i = 0; i < marked; i++) {
            float[][] image = tokenizer.decodeImage(toy.sample(60_000L + i, List.of(embed(KEY, "bias", 4.0))));
            for (int s = 0; s < shifts.length; s++) {
                float[][] moved = LbwAlignmentSearch.shift(image, shifts[s][0], shifts[s][1]);
                plain[s] += Boolean.TRUE.equals(detectImage(moved, KEY, 0).get("detected")) ? 1 : 0;
                Map<String, Object> r = detectImage(moved, KEY, 2);
                searched[s] += Boolean.TRUE.equals(r.get("detected")) ? 1 : 0;
            }
        }
        System.out.printf("LBW images, align_search 2: false positives at alpha %.2f over %d test images %d (upper"
                + " 99.9%% bound %d); detected of %d watermarked toy samples (bias 4) shifted 1,0 / 1,1 / 2,2 px:"
                + " %d / %d / %d with the search, %d / %d / %d without%n", ALPHA, n, flagged, allowed[1], marked,
                searched[0], searched[1], searched[2], plain[0], plain[1], plain[2]);
        assertThat(flagged).isLessThanOrEqualTo(allowed[1]);
        for (int s = 0; s < shifts.length; s++) {
            assertThat(searched[s]).as("shift %s with the search", Arrays.toString(shifts[s]))
                    .isGreaterThanOrEqualTo(90);
            assertThat(plain[s]).as("shift %s without", Arrays.toString(shifts[s])).isLessThan(20);
        }
        // the reported alignment undoes the shift, and the p-value carries the 25 alignments
        float[][] image = tokenizer.decodeImage(toy.sample(60_000L, List.of(embed(KEY, "bias", 4.0))));
        Map<String, Object> r = detectImage(LbwAlignmentSearch.shift(image, 1, 0), KEY, 2);
        @SuppressWarnings("unchecked")
        Map<String, Object> alignment = (Map<String, Object>) r.get("alignment");
        assertThat(alignment).containsEntry("dx", -1).containsEntry("dy", 0).containsEntry("tried", 25);
        assertThat(p(r)).isEqualTo(Math.min(1, 25 * ((Number) alignment.get("p_value_aligned")).doubleValue()));
    }

    @Test
    void withoutPixelsTheSearchChangesNothing() {
        int[] tokens = toy.sample(61_000L, List.of(embed(KEY, "bias", 4.0)));
        Map<String, Object> plain = detect(tokens, KEY);
        Map<String, Object> searched = detect(tokens, KEY, "align_search", 2);
        assertThat(searched.get("p_value")).isEqualTo(plain.get("p_value"));
        assertThat(searched.get("detected")).isEqualTo(plain.get("detected"));
        assertThat((String) searched.get("alignment")).startsWith("not searched");
    }

    @Test
    void hardModeGivesTheClosedFormZ() {
        int universe = tokenizer.layout().codes();
        LbwScheme scheme = LbwScheme.from(Options.of(Map.of("key", KEY)), "t");
        double gamma = (double) scheme.listSize(universe) / universe;
        for (int i = 0; i < 20; i++) {
            LbwProcessor processor = (LbwProcessor) embed(KEY, "mode", "hard");
            int[] tokens = toy.sample(7_000L + i, List.of(processor));
            BitSet green = scheme.list(processor.drawnList(), 0, universe);
            long n = tokens.length;
            Map<Integer, Integer> counts = new java.util.HashMap<>();
            for (int t : tokens) {
                assertThat(green.get(t)).as("hard mode emits only green codes").isTrue();
                counts.merge(t, 1, Integer::sum);
            }
            long sumOfSquares = counts.values().stream().mapToLong(c -> (long) c * c).sum();
            int distinct = counts.size();
            // every code green: g = n, so z = (1 − γ)·n / sqrt(γ(1 − γ)(U·Σc² − n²)/(U − 1))
            double expected = (1 - gamma) * n / Math.sqrt(gamma * (1 - gamma) * (universe * (double) sumOfSquares
                    - (double) n * n) / (universe - 1));
            Map<String, Object> r = detect(tokens, KEY);
            assertThat(r.get("best_list")).isEqualTo(processor.drawnList());
            assertThat(((Number) r.get("green_tokens")).longValue()).isEqualTo(n);
            assertThat(((Number) r.get("z_score")).doubleValue()).isCloseTo(expected,
                    org.assertj.core.api.Assertions.within(1e-9));
            // unique counting: the spec's binomial z over U distinct ids, all green: sqrt(U(1 − γ)/γ)
            Map<String, Object> u = detect(tokens, KEY, "count", "unique");
            assertThat(((Number) u.get("z_score")).doubleValue()).isCloseTo(
                    Math.sqrt(distinct * (1 - gamma) / gamma), org.assertj.core.api.Assertions.within(1e-9));
            assertThat(WatermarkStatistics.zScore(distinct, distinct, gamma)).isCloseTo(
                    Math.sqrt(distinct * (1 - gamma) / gamma), org.assertj.core.api.Assertions.within(1e-9));
        }
    }

    @Test
    void zeroBiasIsBitIdenticalToNoWatermark() {
        for (int i = 0; i < 50; i++) {
            int[] plain = toy.sample(3_000L + i, List.of());
            int[] zero = toy.sample(3_000L + i, List.of(embed(KEY, "bias", 0.0)));
            assertThat(zero).isEqualTo(plain);
            assertThat(Png.encode(tokenizer.decodeImage(zero))).isEqualTo(Png.encode(tokenizer.decodeImage(plain)));
        }
        // and a positive bias does change images (the comparison above can fail)
        int changed = 0;
        for (int i = 0; i < 50; i++) {
            changed += Arrays.equals(toy.sample(3_000L + i, List.of()),
                    toy.sample(3_000L + i, List.of(embed(KEY, "bias", 2.0)))) ? 0 : 1;
        }
        assertThat(changed).isGreaterThan(40);
    }

    @Test
    void classAndControlIdsAreNeverTouched() {
        int vocab = tokenizer.vocabSize();
        int codes = tokenizer.layout().codes();
        float[] logits = new float[vocab];
        SplittableRandom random = new SplittableRandom(5);
        for (int v = 0; v < vocab; v++) {
            logits[v] = (float) random.nextGaussian();
        }
        for (String mode : List.of("soft", "hard")) {
            float[] row = logits.clone();
            LbwProcessor processor = (LbwProcessor) embed(KEY, "mode", mode);
            processor.process(row, SamplingContext.seeded(new int[] {tokenizer.layout().classToken(3)}, vocab, 1));
            assertThat(Arrays.copyOfRange(row, codes, vocab)).as(mode).isEqualTo(Arrays.copyOfRange(logits, codes,
                    vocab));
            int changedCodes = 0;
            for (int v = 0; v < codes; v++) {
                changedCodes += row[v] != logits[v] ? 1 : 0;
            }
            // soft: the m green codes move up; hard: the K − m others go to −∞
            int m = LbwScheme.from(Options.of(Map.of("key", KEY)), "t").listSize(codes);
            assertThat(changedCodes).as(mode).isEqualTo(mode.equals("soft") ? m : codes - m);
        }
    }
}
