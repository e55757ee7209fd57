package dev.arbor.watermark.lbw.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.VocabularyPartition;
import dev.arbor.watermark.RandomSubsetNull;
import dev.arbor.watermark.WatermarkKeys;
import dev.arbor.watermark.WatermarkReport;
import dev.arbor.watermark.WatermarkStatistics;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Part {@code watermark-lbw-detect}: detects Lexical Bias Watermarking (METHODS.md §3.3 "detect") on the output's
 * tokens; adds the {@code watermark} annotation ({@link WatermarkReport}) and hands tokens and text on unchanged.
 *
 * <p><b>Scored tokens</b>: the ids inside the vocabulary range ({@code vocab_range}: {@code all} = the tokenizer's
 * vocabulary, {@code text} / {@code image} = its {@code partition()}, or {@code START:END}), except the tokenizer's
 * BOS and EOS; T of them, id v occurring c_v times.
 *
 * <p><b>Statistic</b> (option {@code count}; the paper leaves it open, so Arbor chose and measured it on
 * stories260K — BENCHMARKS.md, "Watermarks on stories260K"): a context-free list marks an id, not a position, so
 * the occurrences of one id are not independent evidence. {@code occurrences} (default): green count
 * {@code g_n = Σ_{v ∈ G_n} c_v}, standardised with its exact mean and variance when the list is a random subset
 * independent of the text ({@link WatermarkStatistics#zScoreRandomSubset}: the variance grows with Σc_v², so
 * repetition cannot fake a watermark; the decision uses the exact tail below). {@code unique}: each distinct id once, the spec's binomial z
 * {@code (g_n − γ·U)/sqrt(U·γ(1−γ))} over the U distinct ids (exactly {@code sqrt(U(1−γ)/γ)} when all are green).
 * The plain binomial z over all occurrences (the spec's formula read literally) is not offered: on unwatermarked
 * stories260K text scored against random keys its standard deviation is 1.5, so its false-positive rate is far above
 * nominal; {@code occurrences} keeps the null at N(0, 1) and is the more powerful of the two calibrated statistics
 * (unique counting saturates: which distinct ids a story uses changes little under a soft bias).
 *
 * <p><b>Decision</b>: for every list n (green fraction γ_n = m/|range|) its count, z_n (reported) and its exact
 * one-sided p-value p_n: the probability that a uniformly random m-subset of the range — what list n is under a
 * random key — gathers a count at least g_n from this text's counts ({@link RandomSubsetNull}; for {@code unique}
 * this is the hypergeometric tail). The normal approximation used before had a right tail too light for a count
 * dominated by a few repeated ids: 11 of 500 unwatermarked texts (2.2 %) were flagged at nominal 1 %. The best
 * list (smallest p_n, then largest z, then lowest index) has its p-value corrected for the N lists looked at with
 * Šidák, {@code p = 1 − (1 − p_best)^N}: valid for a random key, as the lists are then independent random subsets
 * given the text, and never above Bonferroni's N·p_best. Detected iff {@code p ≤ alpha} (default 0.01);
 * {@code threshold} reports the z that the normal approximation would need, {@code Φ⁻¹(1 − (1 − (1 −
 * alpha)^{1/N}))}, for comparison only.
 *
 * <p><b>What the false-positive guarantee covers</b>: like every keyed watermark, the rate is over the key (a key
 * drawn at random, independent of the text). A context-free list is the same for every position, so for one fixed
 * key its green share of natural text is not exactly γ (frequent ids are in it or not): per-key null z-scores are
 * shifted, in either direction (BENCHMARKS.md gives the spread measured on stories260K). Operators should use a
 * random key, and should not raise {@code alpha} to compensate.
 *
 * <p><b>Images</b>: with {@code vocab_range image} the detector scores an image tokenizer's codes; on an image
 * analyzed from a PNG ({@code PipelineService.analyzeImage}: its pixels come in annotation
 * {@code PipelineService.IMAGE_PIXELS}) option {@code align_search} r in 0..4 (default 0 = off) also tries the
 * image shifted by up to r pixels each way, Bonferroni-corrected ({@link LbwAlignmentSearch}); on generated tokens it
 * changes nothing.
 *
 * <p><b>Options</b>: the pool's ({@link LbwScheme}), {@code alpha} in (0, 0.5], {@code count}, {@code align_search},
 * and {@code key_id}: when given and different from this pool's key id, the detector refuses (INVALID_INPUT).
 */
@org.osgi.service.component.annotations.Component(service = PostProcessor.class, property = {
    PartProperties.NAME + "=watermark-lbw-detect",
    PartProperties.DESCRIPTION + "=Detects Lexical Bias Watermarking: per-list green counts and z, best list, Sidak-corrected p-value"})
public final class LbwDetector implements PostProcessor {
    static final String PART = "watermark-lbw-detect";
    static final String ALPHA = "alpha";
    static final String COUNT = "count";
    static final String ALIGN_SEARCH = "align_search";

    @Override
    public Output process(Output output, Tokenizer tokenizer, Options options) {
        LbwScheme scheme = LbwScheme.from(options, PART);
        if (scheme.gamma == 0) {
            throw ArborException.invalid("option '" + LbwScheme.GREEN_RATIO + "' must be greater than 0 for "
                    + "detection (an empty green list carries no watermark)");
        }
        double alpha = options.number(ALPHA, 0.01, 0, 0.5);
        if (alpha == 0) {
            throw ArborException.invalid("option '" + ALPHA + "' must be greater than 0 and at most 0.5 (the "
                    + "false-positive rate to keep), got 0");
        }
        String count = options.string(COUNT, "occurrences").trim();
        if (!count.equals("unique") && !count.equals("occurrences")) {
            throw ArborException.invalid("option '" + COUNT + "' must be 'occurrences' or 'unique', got '" + count
                    + "'");
        }
        int radius = options.integer(ALIGN_SEARCH, 0, 0, LbwAlignmentSearch.MAX_RADIUS);
        int[] range = resolveRange(scheme, tokenizer);
        String keyId = scheme.keyId(range[0], range[1]);
        WatermarkKeys.checkRequestedKeyId(options, keyId, PART);
        boolean unique = count.equals("unique");
        Object pixels = output.annotations().get(PipelineService.IMAGE_PIXELS);
        if (radius > 0 && pixels instanceof float[][] image && tokenizer instanceof ImageTokenizer images) {
            return output.annotate(WatermarkReport.ANNOTATION, LbwAlignmentSearch.score(scheme, image, images, range,
                    alpha, unique, keyId, radius));
        }
        Map<String, Object> report = score(scheme, output.tokens(), tokenizer, range, alpha, unique, keyId);
        if (radius > 0) {
            report = new LinkedHashMap<>(report);
            report.put("alignment", "not searched: no image to re-align (generated tokens are aligned by"
                    + " construction; analyze a PNG to search)");
        }
        return output.annotate(WatermarkReport.ANNOTATION, report);
    }

    static int[] resolveRange(LbwScheme scheme, Tokenizer tokenizer) {
        int[] explicit = scheme.explicitRange();
        if (explicit != null) {
            return explicit;
        }
        VocabularyPartition partition = tokenizer.partition();
        return switch (scheme.range) {
            case "all" -> new int[] {0, tokenizer.vocabSize()};
            case "text" -> new int[] {partition.textStart(), partition.textEnd()};
            case "image" -> {
                if (partition.imageEnd() <= partition.imageStart()) {
                    throw ArborException.invalid("option '" + LbwScheme.VOCAB_RANGE + "' is 'image' but the "
                            + "pipeline's tokenizer has no image ids");
                }
                yield new int[] {partition.imageStart(), partition.imageEnd()};
            }
            default -> throw ArborException.invalid("option '" + LbwScheme.VOCAB_RANGE + "' must be 'all', 'text', "
                    + "'image' or START:END, got '" + scheme.range + "'");
        };
    }

    static Map<String, Object> score(LbwScheme scheme, int[] tokens, Tokenizer tokenizer, int[] range, double alpha,
                                     boolean unique, String keyId) {
        int start = range[0];
        int end = range[1];
        int bos = tokenizer.bosTokenId().orElse(-1);
        int eos = tokenizer.eosTokenId().orElse(-1);
        int[] counts = new int[end - start];
        for (int t : tokens) {
            if (t >= start && t < end && t != bos && t != eos) {
                counts[t - start] = unique ? 1 : counts[t - start] + 1;
            }
        }
        long n = 0;
        long sumOfSquares = 0;
        int used = 0;
        for (int c : counts) {
            n += c;
            sumOfSquares += (long) c * c;
            used += c > 0 ? 1 : 0;
        }
        long[] weights = new long[used];
        for (int v = 0, i = 0; v < counts.length; v++) {
            if (counts[v] > 0) {
                weights[i++] = counts[v];
            }
        }
        List<long[]> group = List.of(weights);
        int universe = end - start;
        int listSize = scheme.listSize(universe);
        double gamma = (double) listSize / universe;
        BitSet[] pool = scheme.pool(start, end);
        List<Map<String, Object>> lists = new ArrayList<>();
        int best = 0;
        long bestGreen = 0;
        double bestZ = Double.NEGATIVE_INFINITY;
        double p = 1;
        long[] greens = new long[pool.length];
        for (int k = 0; k < pool.length; k++) {
            for (int v = pool[k].nextSetBit(start); v >= 0 && v < end; v = pool[k].nextSetBit(v + 1)) {
                greens[k] += counts[v - start];
            }
        }
        // the exact tail of each list's count under a random key (RandomSubsetNull), not a normal approximation
        double[] tails = RandomSubsetNull.upperTails(group, universe, listSize, greens);
        for (int k = 0; k < pool.length; k++) {
            long green = greens[k];
            double z = unique ? WatermarkStatistics.zScore(green, n, gamma)
                    : WatermarkStatistics.zScoreRandomSubset(green, n, sumOfSquares, universe, gamma);
            double listP = tails[k];
            if (listP < p || (listP == p && z > bestZ)) {
                p = listP;
                bestZ = z;
                best = k;
                bestGreen = green;
            }
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("list", k);
            entry.put("green_tokens", green);
            entry.put("z_score", z);
            entry.put("p_value", listP);
            lists.add(entry);
        }
        if (bestZ == Double.NEGATIVE_INFINITY) {
            bestZ = 0;
        }
        double corrected = WatermarkStatistics.sidak(p, pool.length);
        double threshold = WatermarkStatistics.zThreshold(WatermarkStatistics.sidakPerTestLevel(alpha, pool.length));
        WatermarkReport report = WatermarkReport.of(LbwScheme.SCHEME, keyId, n, bestGreen, bestZ, corrected,
                threshold, n > 0 && corrected <= alpha);
        scheme.describe(start, end).forEach(report::with);
        report.with("count", unique ? "unique" : "occurrences")
                .with("alpha", alpha)
                .with("correction", "sidak")
                .with("p_value_uncorrected", p)
                .with("best_list", best)
                .with("lists", lists);
        if (n == 0) {
            report.with("note", "nothing to score: no token of the text is in the vocabulary range " + start + ":"
                    + end + " (BOS and EOS excluded)");
        }
        return report.toMap();
    }
}
