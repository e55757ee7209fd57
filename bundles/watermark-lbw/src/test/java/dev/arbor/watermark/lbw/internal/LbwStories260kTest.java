package dev.arbor.watermark.lbw.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.watermark.WatermarkReport;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.apache.commons.math3.distribution.BinomialDistribution;
import org.apache.commons.math3.distribution.NormalDistribution;
import org.apache.commons.math3.stat.inference.KolmogorovSmirnovTest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * LBW on real text: stories260K on ONNX Runtime, sampled as the {@code stories260k} pipeline does (temperature 0.8,
 * top-p 0.9, seeded), 10 prompts, default scheme (γ 0.25, pool of 8, count occurrences, α = 0.01).
 *
 * <p><b>Null</b>: 500 unwatermarked generations of 100 tokens, each scored against its own random key (the
 * guarantee is over the key; see {@link LbwDetector} on fixed keys). (1) The z-score of one list (list 0), with both {@code count} statistics, passes a
 * Kolmogorov–Smirnov test against N(0, 1) at significance 0.001 (z lives on a lattice; see the green-list test).
 * (2) The decision — best of 8 lists, Šidák-corrected, exact p-values — fires on at most the 0.999 quantile of
 * Binomial(500, α) = 13 texts (nominal 5; measured 5; the normal approximation used before flagged 11, as the count
 * of a few repeated ids has a heavier right tail: {@code DetectorCalibrationTest} checks 2,000 texts).
 *
 * <p><b>Power</b>: 100 watermarked generations of 200 tokens (soft, δ = 2, one fixed key; each output draws its own
 * list), detected at α = 0.01 on their first 50, 100 and 200 tokens.
 */
class LbwStories260kTest {
    private static Stories260k stories;
    private static final List<int[]> unmarked = new ArrayList<>();
    private static final List<int[]> marked = new ArrayList<>();
    private static final String KEY = "lbw-test-key-6f1c2a";

    @BeforeAll
    static void generate() {
        stories = Stories260k.open();
        long start = System.nanoTime();
        for (int p = 0; p < Stories260k.PROMPTS.length; p++) {
            long[] seeds = new long[50];
            for (int i = 0; i < seeds.length; i++) {
                seeds[i] = 20_000L * p + i;
            }
            unmarked.addAll(Arrays.asList(stories.generateBatch(Stories260k.PROMPTS[p], seeds, 100, List::of)));
            Options scheme = Options.of(Map.of("key", KEY));
            marked.addAll(Arrays.asList(stories.generateBatch(Stories260k.PROMPTS[p], Arrays.copyOf(seeds, 10), 200,
                    () -> List.<LogitsProcessor>of(new LbwProcessorFactory().create(scheme)))));
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

    @SuppressWarnings("unchecked")
    static Map<String, Object> detect(int[] tokens, Options options) {
        PostProcessor.Output out = new LbwDetector().process(new PostProcessor.Output(tokens, "", Map.of()),
                stories.tokenizer, options);
        return (Map<String, Object>) out.annotations().get(WatermarkReport.ANNOTATION);
    }

    @Test
    @SuppressWarnings("unchecked")
    void nullZScoresAreStandardNormalAndTheCorrectedFalsePositiveRateIsAlpha() {
        assertThat(unmarked).hasSize(500);
        double[] list0 = new double[unmarked.size()];
        double[] list0Unique = new double[unmarked.size()];
        int positives = 0;
        for (int i = 0; i < list0.length; i++) {
            Options o = Options.of(Map.of("key", "random-key-" + i + "-" + (i * 0x9E3779B97F4A7C15L)));
            Map<String, Object> report = detect(unmarked.get(i), o);
            list0[i] = (double) ((List<Map<String, Object>>) report.get("lists")).get(0).get("z_score");
            list0Unique[i] = (double) ((List<Map<String, Object>>) detect(unmarked.get(i), o.with("count", "unique"))
                    .get("lists")).get(0).get("z_score");
            positives += (boolean) report.get("detected") ? 1 : 0;
        }
        double ks = new KolmogorovSmirnovTest().kolmogorovSmirnovTest(new NormalDistribution(null, 0, 1), list0);
        double ksUnique = new KolmogorovSmirnovTest().kolmogorovSmirnovTest(new NormalDistribution(null, 0, 1),
                list0Unique);
        int allowed = new BinomialDistribution(null, 500, 0.01).inverseCumulativeProbability(0.999);
        System.out.printf("LBW null (500 x 100 tokens, random keys): list-0 z mean %.3f sd %.3f KS p %.3g (count unique:"
                + " sd %.3f, KS p %.3g); corrected false positives %d/500 (alpha 0.01, allowed %d)%n",
                mean(list0), sd(list0), ks, sd(list0Unique), ksUnique, positives, allowed);
        assertThat(ks).as("KS p-value of list-0 z against N(0,1)").isGreaterThan(0.001);
        assertThat(ksUnique).as("KS p-value of list-0 z (count unique) against N(0,1)").isGreaterThan(0.001);
        assertThat(positives).isLessThanOrEqualTo(allowed);
    }

    @Test
    void watermarkedTextIsDetectedAt50_100And200Tokens() {
        Options o = Options.of(Map.of("key", KEY));
        int[] lengths = {50, 100, 200};
        double[] rate = new double[3];
        for (int l = 0; l < 3; l++) {
            int detected = 0;
            for (int[] text : marked) {
                detected += (boolean) detect(Arrays.copyOf(text, lengths[l]), o).get("detected") ? 1 : 0;
            }
            rate[l] = detected / (double) marked.size();
        }
        System.out.printf("LBW detection rate at alpha 0.01 (soft, delta 2, gamma 0.25, pool 8): 50 tokens %.2f, "
                + "100 tokens %.2f, 200 tokens %.2f%n", rate[0], rate[1], rate[2]);
        assertThat(rate[0]).as("detection rate at 50 tokens").isGreaterThanOrEqualTo(BAR_50);
        assertThat(rate[1]).as("detection rate at 100 tokens").isGreaterThanOrEqualTo(BAR_100);
        assertThat(rate[2]).as("detection rate at 200 tokens").isGreaterThanOrEqualTo(BAR_200);
    }

    /**
     * Bars about two binomial standard errors (n = 100) below the measured 0.30, 0.52 and 0.66 with exact p-values:
     * a soft context-free bias of 2 on a 512-id vocabulary is a weak mark (BENCHMARKS.md has δ = 4, which detects
     * ≥ 0.97 at 50 tokens). The normal approximation used before gave 0.45, 0.63 and 0.78, but at a false-positive
     * rate of 2.2 % where it claimed 1 %: part of that was not power.
     */
    private static final double BAR_50 = 0.20;
    private static final double BAR_100 = 0.42;
    private static final double BAR_200 = 0.56;

    static double mean(double[] v) {
        return Arrays.stream(v).average().orElse(Double.NaN);
    }

    static double sd(double[] v) {
        double m = mean(v);
        return Math.sqrt(Arrays.stream(v).map(x -> (x - m) * (x - m)).sum() / (v.length - 1));
    }
}
