package dev.arbor.watermark.greenlist.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.watermark.WatermarkReport;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.commons.math3.distribution.BinomialDistribution;
import org.apache.commons.math3.distribution.NormalDistribution;
import org.apache.commons.math3.stat.inference.KolmogorovSmirnovTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The green-list watermark on real text: stories260K on ONNX Runtime, sampled as the {@code stories260k} pipeline
 * does (temperature 0.8, top-p 0.9, seeded), 10 prompts.
 *
 * <p><b>Null</b>: 500 unwatermarked generations of 100 tokens (50 seeds per prompt), each scored against its own
 * random key — the false-positive guarantee of a keyed watermark is over the key. (1) With
 * {@code ignore_repeated_ngrams} the z-scores pass a Kolmogorov–Smirnov test against N(0, 1) at significance 0.001
 * (z lives on a lattice of step ≈ 1/sqrt(0.19·T), which alone costs KS a statistic of ≈ 0.04 of the 0.087 allowed
 * at n = 500, so a stricter level would test the lattice, not the scheme). The number of texts over z = 2.326 (nominal 1 %) stays
 * within the 0.999 quantile of Binomial(500, 0.01) = 13. (2) With the defaults (every n-gram occurrence counted, as
 * HF) the count over the default threshold 4 stays within the 0.999 quantile of Binomial(500, 1 − Φ(4)) = 1; at
 * 2.326 it does not (measured 15/500: repeated n-grams make z overdispersed, sd 1.22 — Kirchenbauer et al., "On the
 * Reliability of Watermarks", §A), which the test pins down by comparing dispersions.
 *
 * <p><b>Power</b>: 100 watermarked generations of 200 tokens (δ = 2, γ = 0.25, lefthash, one fixed key), detected
 * at the default threshold 4 (exact p-value at most 1 − Φ(4)) on their first 50, 100 and 200 tokens.
 */
class GreenlistStories260kTest {
    private static final int NULL_PER_PROMPT = 50;
    private static final long KEY = 733_387_253_145L;
    private static Stories260k stories;
    private static final List<int[]> unmarked = new ArrayList<>();
    private static final List<int[]> marked = new ArrayList<>();

    @BeforeAll
    static void generate() {
        stories = Stories260k.open();
        long start = System.nanoTime();
        for (int p = 0; p < Stories260k.PROMPTS.length; p++) {
            long[] seeds = new long[NULL_PER_PROMPT];
            for (int i = 0; i < seeds.length; i++) {
                seeds[i] = 10_000L * p + i;
            }
            unmarked.addAll(Arrays.asList(stories.generateBatch(Stories260k.PROMPTS[p], seeds, 100, List::of)));
            long[] markedSeeds = Arrays.copyOf(seeds, 10);
            Options scheme = Options.of(Map.of("hashing_key", KEY, "bias", 2.0));
            marked.addAll(Arrays.asList(stories.generateBatch(Stories260k.PROMPTS[p], markedSeeds, 200,
                    () -> List.<LogitsProcessor>of(new GreenlistProcessorFactory().create(scheme)))));
        }
        System.out.printf("stories260K: %d unwatermarked x 100 and %d watermarked x 200 tokens in %.1f s%n",
                unmarked.size(), marked.size(), (System.nanoTime() - start) / 1e9);
    }

    @AfterAll
    static void close() {
        if (stories != null) {
            stories.close();
        }
    }

    private static Map<String, Object> detect(int[] tokens, Options options) {
        PostProcessor.Output out = new GreenlistDetector().process(new PostProcessor.Output(tokens, "", Map.of()),
                stories.tokenizer, options);
        @SuppressWarnings("unchecked")
        Map<String, Object> report = (Map<String, Object>) out.annotations().get(WatermarkReport.ANNOTATION);
        return report;
    }

    private static long randomKey(int i) {
        return 1 + (new SplittableRandom(0xC0FFEE + i).nextLong() >>> 1) % (Long.MAX_VALUE - 1);
    }

    private static double[] nullZ(Options extra) {
        double[] z = new double[unmarked.size()];
        for (int i = 0; i < z.length; i++) {
            z[i] = (double) detect(unmarked.get(i), extra.with("hashing_key", randomKey(i))).get("z_score");
        }
        return z;
    }

    private static long over(double[] z, double threshold) {
        return Arrays.stream(z).filter(v -> v > threshold).count();
    }

    private static int allowed(int n, double nominal) {
        return new BinomialDistribution(null, n, nominal).inverseCumulativeProbability(0.999);
    }

    @Test
    void nullZScoresAreStandardNormalAndTheFalsePositiveRateIsNominal() {
        assertThat(unmarked).hasSize(500);
        double[] distinct = nullZ(Options.of(Map.of("ignore_repeated_ngrams", true)));
        double ks = new KolmogorovSmirnovTest().kolmogorovSmirnovTest(new NormalDistribution(null, 0, 1), distinct);
        double[] all = nullZ(Options.empty());
        double nominal4 = 1 - new NormalDistribution(null, 0, 1).cumulativeProbability(4);
        System.out.printf("green list null (500 x 100 tokens, random keys): ignore_repeated_ngrams mean %.3f sd %.3f"
                + " KS p %.3g, z>2.326 %d/500; all n-grams mean %.3f sd %.3f, z>2.326 %d/500 (allowed %d), z>4 %d/500"
                + " (allowed %d)%n", mean(distinct), sd(distinct), ks, over(distinct, 2.326), mean(all), sd(all),
                over(all, 2.326), allowed(500, 0.01), over(all, 4), allowed(500, nominal4));
        assertThat(ks).as("KS p-value of z (ignore_repeated_ngrams) against N(0,1)").isGreaterThan(0.001);
        assertThat(over(distinct, 2.326)).isLessThanOrEqualTo(allowed(500, 0.01));
        // Counting every occurrence (HF's default) is overdispersed on repetitive text (measured sd 1.22): its
        // false-positive rate at z = 2.326 is about 3 %, not 1 %, which is why the shipped pipeline file sets
        // ignore_repeated_ngrams; at the default threshold 4 it stays within the nominal rate.
        assertThat(sd(all)).as("overdispersion of the all-occurrences z").isGreaterThan(sd(distinct));
        assertThat(over(all, 4)).isLessThanOrEqualTo(allowed(500, nominal4));
    }

    @Test
    void watermarkedTextIsDetectedAt50_100And200Tokens() {
        double[] rate = rates(Options.of(Map.of("hashing_key", KEY)));
        double[] distinct = rates(Options.of(Map.of("hashing_key", KEY, "ignore_repeated_ngrams", true)));
        System.out.printf("green list detection rate at p <= 1 - Phi(4) (delta 2, gamma 0.25, lefthash): 50 tokens "
                + "%.2f, 100 tokens %.2f, 200 tokens %.2f; with ignore_repeated_ngrams %.2f, %.2f, %.2f%n", rate[0],
                rate[1], rate[2], distinct[0], distinct[1], distinct[2]);
        assertThat(distinct[0]).as("detection rate at 50 tokens").isGreaterThanOrEqualTo(BAR_50);
        assertThat(distinct[1]).as("detection rate at 100 tokens").isGreaterThanOrEqualTo(BAR_100);
        assertThat(distinct[2]).as("detection rate at 200 tokens").isGreaterThanOrEqualTo(BAR_200);
        assertThat(rate[2]).as("detection rate at 200 tokens, every occurrence").isGreaterThanOrEqualTo(BAR_200_ALL);
    }

    /**
     * Bars about two binomial standard errors (n = 100) below the rates measured with exact p-values at the level
     * of z = 4 (3.2e-5) and distinct tests, as the shipped pipelines detect: 0.32, 0.78 and 1.00; counting every
     * occurrence, 0.29, 0.68 and 0.93. The normal approximation used before gave 0.63, 0.92, 1.00 for every
     * occurrence, but its level was not 3.2e-5: repeated n-grams make that z overdispersed (sd 1.22 under the null).
     */
    private static final double BAR_50 = 0.22;
    private static final double BAR_100 = 0.70;
    private static final double BAR_200 = 0.95;
    private static final double BAR_200_ALL = 0.85;

    private static double[] rates(Options options) {
        int[] lengths = {50, 100, 200};
        double[] rate = new double[lengths.length];
        for (int l = 0; l < lengths.length; l++) {
            int detected = 0;
            for (int[] text : marked) {
                if ((boolean) detect(Arrays.copyOf(text, lengths[l]), options).get("detected")) {
                    detected++;
                }
            }
            rate[l] = detected / (double) marked.size();
        }
        return rate;
    }

    static double mean(double[] v) {
        return Arrays.stream(v).average().orElse(Double.NaN);
    }

    static double sd(double[] v) {
        double m = mean(v);
        return Math.sqrt(Arrays.stream(v).map(x -> (x - m) * (x - m)).sum() / (v.length - 1));
    }
}
