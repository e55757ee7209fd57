package dev.arbor.watermark.greenlist.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.watermark.WatermarkKeys;
import dev.arbor.watermark.WatermarkReport;
import dev.arbor.watermark.WatermarkStatistics;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code watermark-greenlist-detect}: the detector of Kirchenbauer et al. 2023 (§4, one-proportion z-test) with
 * Hugging Face {@code WatermarkDetector} semantics, over the output's tokens. Adds the annotation {@code watermark}
 * ({@link WatermarkReport}: scheme, key_id, tokens_scored, green_tokens, green_fraction, z_score, p_value, threshold,
 * detected, then seeding_scheme, greenlist_ratio, context_width, ignore_repeated_ngrams); tokens and text are
 * handed on unchanged.
 *
 * <p><b>What is scored</b> (HF {@code _score_ngrams_in_passage}): a leading BOS is dropped; the n-grams of
 * {@code n = context_width + 1} tokens (lefthash: the last token is scored with the list seeded by the ones before)
 * or {@code n = context_width} tokens (selfhash: the last token is scored with the list seeded by the whole n-gram)
 * are scored, so the first {@code context_width} (lefthash) or {@code context_width − 1} (selfhash) tokens are
 * context only. With {@code ignore_repeated_ngrams} (default false) each distinct n-gram counts once (HF's option
 * of that name; Kirchenbauer et al., "On the Reliability of Watermarks", recommend it for repetitive text).
 * Fewer tokens than one n-gram score nothing: the report says so (z 0, p 1, not detected) rather than failing the
 * request that produced them.
 *
 * <p><b>Decision</b>: {@code z > z_threshold} (default 4.0, the paper's; HF's detector defaults to 3.0); p-value
 * {@code 1 − Φ(z)} ({@link WatermarkStatistics}).
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
        // n-gram -> [occurrences, green (0/1)], in first-seen order
        Map<List<Integer>, long[]> ngrams = new LinkedHashMap<>();
        Map<Long, Boolean> cache = new HashMap<>();
        for (int end = n; end <= tokens.length; end++) {
            List<Integer> key = Arrays.stream(tokens, end - n, end).boxed().toList();
            long[] entry = ngrams.get(key);
            if (entry == null) {
                int target = tokens[end - 1];
                int seedEnd = scheme.selfhash ? end : end - 1;
                boolean green = false;
                if (target >= 0 && target < vocab) {
                    long seed = scheme.seed(tokens, seedEnd);
                    green = cache.computeIfAbsent(seed * 31 + target,
                            k -> scheme.greenList(seed, vocab).get(target));
                }
                entry = new long[] {0, green ? 1 : 0};
                ngrams.put(key, entry);
            }
            entry[0]++;
        }
        long scored = 0;
        long green = 0;
        for (long[] e : ngrams.values()) {
            scored += ignoreRepeated ? 1 : e[0];
            green += ignoreRepeated ? e[1] : e[0] * e[1];
        }
        double z = WatermarkStatistics.zScore(green, scored, scheme.gamma);
        double p = WatermarkStatistics.pValue(z);
        WatermarkReport report = WatermarkReport.of(GreenlistScheme.SCHEME, scheme.keyId, scored, green, z, p,
                threshold, scored > 0 && z > threshold);
        scheme.describe().forEach(report::with);
        report.with(IGNORE_REPEATED_NGRAMS, ignoreRepeated);
        if (scored == 0) {
            report.with("note", "nothing to score: " + tokens.length + " token(s) after BOS, and the scheme needs at"
                    + " least " + n + " for one scored token");
        }
        return report.toMap();
    }
}
