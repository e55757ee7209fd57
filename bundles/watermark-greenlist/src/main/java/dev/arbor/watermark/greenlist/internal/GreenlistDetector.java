package dev.arbor.watermark.greenlist.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.watermark.RandomSubsetNull;
import dev.arbor.watermark.WatermarkKeys;
import dev.arbor.watermark.WatermarkReport;
import dev.arbor.watermark.WatermarkStatistics;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code watermark-greenlist-detect}: the detector of Kirchenbauer et al. 2023 (§4) with Hugging Face
 * {@code WatermarkDetector} semantics for what is scored, and an exact p-value. Adds the annotation
 * {@code watermark} ({@link WatermarkReport}: scheme, key_id, tokens_scored, green_tokens, green_fraction, z_score,
 * p_value, threshold, detected, then seeding_scheme, greenlist_ratio, context_width, ignore_repeated_ngrams,
 * distinct_tests, level); tokens and text are handed on unchanged.
 *
 * <p><b>What is scored</b> (HF {@code _score_ngrams_in_passage}): a leading BOS is dropped; each position after the
 * first {@code context_width} (lefthash) or {@code context_width − 1} (selfhash) tokens is a test "is this token in
 * the green list of its seed". The same (seed, token) pair is the same test wherever it recurs — perfectly
 * dependent, not new evidence — so {@code ignore_repeated_ngrams} (default false) counts each distinct pair once.
 * That equals HF's distinct n-grams except for lefthash with {@code context_width} &gt; 1, where HF hashes only the
 * last context token and so scores n-grams that differ only before it as separate tests (Arbor counts them once).
 * Without the option every occurrence is counted (HF's default). Ids outside the vocabulary can never be green and
 * are not scored. Fewer tokens than one test score nothing: the report says so (z 0, p 1, not detected) rather
 * than failing the request that produced them.
 *
 * <p><b>p-value</b>: the exact probability, for a key drawn at random independently of the text, of a green count
 * at least the observed one ({@link RandomSubsetNull}): the lists of distinct seeds are independent random
 * {@code int(V·γ)}-subsets, repeated pairs move together, and tokens that share a list are drawn without
 * replacement. The normal approximation {@code 1 − Φ(z)} of earlier versions overstated significance on short or
 * repetitive text (3 % of unwatermarked texts under z = 2.326 when every occurrence counts). {@code z_score} is
 * still HF's {@code (g − γT)/sqrt(Tγ(1−γ))}, for comparison with HF.
 *
 * <p><b>Decision</b>: {@code p_value ≤ level} with {@code level = 1 − Φ(z_threshold)} (default z_threshold 4.0,
 * the paper's; HF's detector defaults to 3.0): the false-positive rate the threshold names, now actually kept; on
 * long text it is close to HF's {@code z > z_threshold}.
 *
 * <p><b>Options</b>: the scheme's ({@link GreenlistScheme}, same values as the generating
 * {@code watermark-greenlist} part, key required), {@code z_threshold} in [0, 100], {@code ignore_repeated_ngrams},
 * {@code vocab_size} (V of the green lists; default the tokenizer's vocabulary size; set it to the model's logits
 * width when that differs, as the processor draws its lists over the logits row), and {@code key_id}: when given and
 * different from this scheme's key id the detector refuses (INVALID_INPUT) instead of scoring with the wrong key.
 */
@Component(service = PostProcessor.class, property = {
    PartProperties.NAME + "=watermark-greenlist-detect",
    PartProperties.DESCRIPTION + "=Detects the Kirchenbauer et al. green-list watermark (HF WatermarkDetector): z-score, p-value, decision"})
public final class GreenlistDetector implements PostProcessor {
    static final String PART = "watermark-greenlist-detect";
    static final String Z_THRESHOLD = "z_threshold";
    static final String IGNORE_REPEATED_NGRAMS = "ignore_repeated_ngrams";
    static final String VOCAB_SIZE = "vocab_size";

    @Override
    public Output process(Output output, Tokenizer tokenizer, Options options) {
        GreenlistScheme scheme = GreenlistScheme.from(options, PART);
        double threshold = options.number(Z_THRESHOLD, 4.0, 0, 100);
        boolean ignoreRepeated = options.bool(IGNORE_REPEATED_NGRAMS, false);
        int vocab = options.integer(VOCAB_SIZE, tokenizer.vocabSize(), 1, Integer.MAX_VALUE);
        WatermarkKeys.checkRequestedKeyId(options, scheme.keyId, PART);
        return output.annotate(WatermarkReport.ANNOTATION,
                score(scheme, output.tokens(), tokenizer, vocab, threshold, ignoreRepeated));
    }

    static Map<String, Object> score(GreenlistScheme scheme, int[] ids, Tokenizer tokenizer, int vocab,
                                     double threshold, boolean ignoreRepeated) {
        int[] tokens = ids;
        if (tokens.length > 0 && tokenizer.bosTokenId().isPresent()
                && tokens[0] == tokenizer.bosTokenId().getAsInt()) {
            tokens = Arrays.copyOfRange(tokens, 1, tokens.length);
        }
        int n = scheme.contextWidth + (scheme.selfhash ? 0 : 1);
        // A position's test is "is the target in the list of its seed": the same (seed, target) is the same test
        // however often it recurs (and lefthash seeds by the last context token only, so n-grams that differ
        // before it are the same test too). seed -> target -> [occurrences, green (0/1)], in first-seen order.
        Map<Long, Map<Integer, long[]>> tests = new LinkedHashMap<>();
        for (int end = n; end <= tokens.length; end++) {
            int target = tokens[end - 1];
            if (target < 0 || target >= vocab) {
                continue; // never green under any key: not evidence either way
            }
            long seed = scheme.seed(tokens, scheme.selfhash ? end : end - 1);
            long[] entry = tests.computeIfAbsent(seed, k -> new LinkedHashMap<>()).computeIfAbsent(target,
                    t -> new long[] {0, scheme.greenList(seed, vocab).get(t) ? 1 : 0});
            entry[0]++;
        }
        long scored = 0;
        long green = 0;
        List<long[]> groups = new ArrayList<>(tests.size());
        for (Map<Integer, long[]> targets : tests.values()) {
            long[] weights = new long[targets.size()];
            int i = 0;
            for (long[] e : targets.values()) {
                long weight = ignoreRepeated ? 1 : e[0];
                weights[i++] = weight;
                scored += weight;
                green += weight * e[1];
            }
            groups.add(weights);
        }
        int listSize = scheme.greenlistSize(vocab);
        double z = WatermarkStatistics.zScore(green, scored, scheme.gamma);
        double p = RandomSubsetNull.upperTail(groups, vocab, listSize, green);
        double level = WatermarkStatistics.pValue(threshold);
        WatermarkReport report = WatermarkReport.of(GreenlistScheme.SCHEME, scheme.keyId, scored, green, z, p,
                threshold, scored > 0 && p <= level);
        scheme.describe().forEach(report::with);
        report.with(IGNORE_REPEATED_NGRAMS, ignoreRepeated)
                .with("distinct_tests", tests.values().stream().mapToInt(Map::size).sum())
                .with("level", level);
        if (scored == 0) {
            report.with("note", "nothing to score: " + tokens.length + " token(s) after BOS, and the scheme needs at"
                    + " least " + n + " for one scored token");
        }
        return report.toMap();
    }
}
