package dev.arbor.watermark.lbw.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.watermark.WatermarkReport;
import dev.arbor.watermark.WatermarkStatistics;
import dev.arbor.watermark.greenlist.internal.GreenlistDetector;
import dev.arbor.watermark.greenlist.internal.GreenlistProcessorFactory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import org.apache.commons.math3.distribution.BinomialDistribution;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Both detectors' p-values mean what they say: over {@value #TEXTS} unwatermarked stories260K texts (ONNX Runtime,
 * sampled as the {@code stories260k} pipeline does, 10 prompts, {@value #LENGTH} tokens), each scored against its
 * own random key — the probability a keyed watermark's p-value speaks of — the share flagged at alpha = 1 % lies in
 * the 99 % binomial interval of Binomial({@value #TEXTS}, 0.01). The statistics they replaced (normal
 * approximations: HF's all-occurrence z for the green list, the best list's normal tail for LBW) are measured on the
 * same texts and must fall above that interval, which is how this test fails on the old detectors. Watermarked text
 * is still detected at the same alpha.
 */
class DetectorCalibrationTest {
    static final int TEXTS = 2000;
    static final int LENGTH = 100;
    static final double ALPHA = 0.01;
    private static Stories260k stories;
    private static final List<int[]> unmarked = new ArrayList<>();
    private static final List<int[]> greenMarked = new ArrayList<>();
    private static final List<int[]> lbwMarked = new ArrayList<>();
    private static final long GREEN_KEY = 4_212_876_093L;
    private static final String LBW_KEY = "calibration-power-key-9b41";

    @BeforeAll
    static void generate() {
        stories = Stories260k.open();
        long start = System.nanoTime();
        int perPrompt = TEXTS / Stories260k.PROMPTS.length;
        for (int p = 0; p < Stories260k.PROMPTS.length; p++) {
            long[] seeds = new long[perPrompt];
            for (int i = 0; i < seeds.length; i++) {
                seeds[i] = 30_000L * p + i;
            }
            unmarked.addAll(Arrays.asList(stories.generateBatch(Stories260k.PROMPTS[p], seeds, LENGTH, List::of)));
            long[] few = Arrays.copyOf(seeds, 5);
            Options green = Options.of(Map.of("hashing_key", GREEN_KEY, "bias", 2.0));
            greenMarked.addAll(Arrays.asList(stories.generateBatch(Stories260k.PROMPTS[p], few, LENGTH,
                    () -> List.<LogitsProcessor>of(new GreenlistProcessorFactory().create(green)))));
            Options lbw = Options.of(Map.of("key", LBW_KEY, "bias", 4.0));
            lbwMarked.addAll(Arrays.asList(stories.generateBatch(Stories260k.PROMPTS[p], few, LENGTH,
                    () -> List.<LogitsProcessor>of(new LbwProcessorFactory().create(lbw)))));
        }
        System.out.printf("stories260K: %d unwatermarked and %d + %d watermarked texts of %d tokens in %.1f s%n",
                unmarked.size(), greenMarked.size(), lbwMarked.size(), LENGTH, (System.nanoTime() - start) / 1e9);
    }

    @AfterAll
    static void close() {
        if (stories != null) {
            stories.close();
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> report(PostProcessor detector, int[] tokens, Options options) {
        return (Map<String, Object>) detector.process(new PostProcessor.Output(tokens, "", Map.of()),
                stories.tokenizer, options).annotations().get(WatermarkReport.ANNOTATION);
    }

    static Map<String, Object> green(int[] tokens, long key, boolean ignoreRepeated) {
        return report(new GreenlistDetector(), tokens, Options.of(Map.of("hashing_key", key,
                "ignore_repeated_ngrams", ignoreRepeated)));
    }

    static Map<String, Object> lbw(int[] tokens, String key) {
        return report(new LbwDetector(), tokens, Options.of(Map.of("key", key)));
    }

    static long greenKey(int i) {
        return 1 + (new SplittableRandom(0xCA11B + i).nextLong() >>> 1) % (Long.MAX_VALUE - 1);
    }

    static double p(Map<String, Object> report) {
        return ((Number) report.get("p_value")).doubleValue();
    }

    /** The old green-list p-value: the normal tail of HF's z. */
    static double normalP(Map<String, Object> report) {
        return WatermarkStatistics.pValue(((Number) report.get("z_score")).doubleValue());
    }

    /** The old LBW p-value: the normal tail of the best list's z, Šidák-corrected for the pool. */
    @SuppressWarnings("unchecked")
    static double oldLbwP(Map<String, Object> report) {
        List<Map<String, Object>> lists = (List<Map<String, Object>>) report.get("lists");
        double best = lists.stream().mapToDouble(l -> ((Number) l.get("z_score")).doubleValue()).max().orElse(0);
        return WatermarkStatistics.sidak(WatermarkStatistics.pValue(best), lists.size());
    }

    static <T> int count(List<T> items, Predicate<T> flagged) {
        return (int) items.stream().filter(flagged).count();
    }

    /** The 99 % binomial interval of the number of false positives among {@code n} texts at rate alpha. */
    static int[] interval(int n) {
        BinomialDistribution b = new BinomialDistribution(null, n, ALPHA);
        return new int[] {b.inverseCumulativeProbability(0.005), b.inverseCumulativeProbability(0.995)};
    }

    @Test
    void falsePositiveRatesAtOnePercentAreNominalForBothDetectors() {
        assertThat(unmarked).hasSize(TEXTS);
        int[] allowed = interval(TEXTS);
        List<Map<String, Object>> greenDistinct = new ArrayList<>();
        List<Map<String, Object>> greenAll = new ArrayList<>();
        List<Map<String, Object>> lbwReports = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < TEXTS; i++) {
            greenDistinct.add(green(unmarked.get(i), greenKey(i), true));
            greenAll.add(green(unmarked.get(i), greenKey(i), false));
            lbwReports.add(lbw(unmarked.get(i), "calibration-key-" + i + "-" + Long.toHexString(greenKey(i))));
        }
        double scoring = (System.nanoTime() - start) / 1e9;
        int distinct = count(greenDistinct, r -> p(r) <= ALPHA);
        int all = count(greenAll, r -> p(r) <= ALPHA);
        int lbw = count(lbwReports, r -> p(r) <= ALPHA);
        int oldDistinct = count(greenDistinct, r -> normalP(r) <= ALPHA);
        int oldAll = count(greenAll, r -> normalP(r) <= ALPHA);
        int oldLbw = count(lbwReports, r -> oldLbwP(r) <= ALPHA);
        System.out.printf("false positives at alpha 1%% over %d texts of %d tokens, random keys (99%% interval %d..%d):"
                + " green list distinct %d (old normal %d), all occurrences %d (old normal %d); LBW %d (old normal %d);"
                + " scoring %.1f s%n", TEXTS, LENGTH, allowed[0], allowed[1], distinct, oldDistinct, all, oldAll, lbw,
                oldLbw, scoring);
        assertThat(distinct).as("green list, distinct tests").isBetween(allowed[0], allowed[1]);
        assertThat(all).as("green list, every occurrence").isBetween(allowed[0], allowed[1]);
        assertThat(lbw).as("LBW").isBetween(allowed[0], allowed[1]);
        // the statistics these replace fail the same test: this is what the test catches on the old detectors
        assertThat(oldAll).as("old green-list statistic (HF z, every occurrence)").isGreaterThan(allowed[1]);
        assertThat(oldLbw).as("old LBW statistic (normal tail)").isGreaterThan(allowed[1]);
    }

    @Test
    void watermarkedTextIsStillDetectedAtTheSameAlpha() {
        int green = count(greenMarked, t -> p(green(t, GREEN_KEY, true)) <= ALPHA);
        int oldGreen = count(greenMarked, t -> normalP(green(t, GREEN_KEY, true)) <= ALPHA);
        int lbw = count(lbwMarked, t -> p(lbw(t, LBW_KEY)) <= ALPHA);
        int oldLbw = count(lbwMarked, t -> oldLbwP(lbw(t, LBW_KEY)) <= ALPHA);
        System.out.printf("detected at alpha 1%% (%d tokens): green list delta 2 %d/%d (old normal %d), LBW delta 4"
                + " %d/%d (old normal %d)%n", LENGTH, green, greenMarked.size(), oldGreen, lbw, lbwMarked.size(),
                oldLbw);
        assertThat(green).isGreaterThanOrEqualTo(greenMarked.size() * 9 / 10);
        assertThat(lbw).isGreaterThanOrEqualTo(lbwMarked.size() * 9 / 10);
    }
}
