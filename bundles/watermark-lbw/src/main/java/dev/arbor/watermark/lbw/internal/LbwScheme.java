package dev.arbor.watermark.lbw.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.watermark.WatermarkKeys;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The keyed pool of Lexical Bias Watermarking (LBW, arXiv 2506.01011; METHODS.md §3.3), shared by the processor
 * and the detector. The paper's code is not public and its defaults were not accessible, so the details below are
 * Arbor's choices (measured in {@code BENCHMARKS.md}, "Watermarks on stories260K"):
 * <ul>
 *   <li><b>Vocabulary range</b> [start, end): the ids that can be green. Option {@code vocab_range}: {@code all}
 *       (default: the whole logits row for the processor, the tokenizer's whole vocabulary for the detector), or
 *       {@code START:END}. The detector also accepts {@code text} and {@code image}, resolved with
 *       {@code Tokenizer.partition()}; the processor sees only logits, so an image pipeline gives the image range
 *       explicitly ({@code START:END}, the tokenizer's {@code partition()} image ids) to both parts.</li>
 *   <li><b>Pool</b>: {@code pool_size} N lists (default 8, at most 1024), list n of
 *       {@code m = round(green_ratio · |range|)} ids drawn by a partial Fisher–Yates shuffle of the range with a
 *       {@link SplittableRandom} seeded by the first 8 bytes of
 *       {@code HMAC-SHA256(key, "arbor-lbw/v1/list/" + n + "/" + start + ":" + end + "/" + m)}: lists are
 *       independent uniformly random m-subsets for a random key, which makes the detector's correction exact.</li>
 *   <li><b>Key</b> ({@code key}): required, any non-blank string, used as the HMAC key; no built-in key.</li>
 *   <li><b>green_ratio</b> γ in [0, 1), default 0.25 (0 = empty lists: the processor changes nothing; the detector
 *       and hard mode need γ &gt; 0).</li>
 * </ul>
 * The key id (reports, refusals) covers the key, γ, N and the resolved range — not the bias or mode, which do not
 * change which tokens are green.
 */
final class LbwScheme {
    static final String KEY = "key";
    static final String GREEN_RATIO = "green_ratio";
    static final String POOL_SIZE = "pool_size";
    static final String VOCAB_RANGE = "vocab_range";
    static final String SCHEME = "lexical-bias";
    static final int MAX_POOL = 1024;

    final String key;
    final double gamma;
    final int poolSize;
    final String range;

    private LbwScheme(String key, double gamma, int poolSize, String range) {
        this.key = key;
        this.gamma = gamma;
        this.poolSize = poolSize;
        this.range = range;
    }

    /** Reads and validates the options every LBW part shares; INVALID_INPUT naming the option otherwise. */
    static LbwScheme from(Options options, String part) {
        double gamma = options.number(GREEN_RATIO, 0.25, 0, 1);
        if (gamma == 1) {
            throw ArborException.invalid("option '" + GREEN_RATIO + "' must be less than 1 (a list holding every "
                    + "token marks nothing), got " + options.raw(GREEN_RATIO).orElse(gamma));
        }
        int pool = options.integer(POOL_SIZE, 8, 1, MAX_POOL);
        String range = options.string(VOCAB_RANGE, "all").trim();
        String key = WatermarkKeys.requireKey(options, KEY, part, "<a long random string>");
        return new LbwScheme(key, gamma, pool, range);
    }

    /** The explicit {@code START:END} range of {@code vocab_range}, or null for a keyword. */
    int[] explicitRange() {
        int colon = range.indexOf(':');
        if (colon < 0) {
            return null;
        }
        try {
            int start = Integer.parseInt(range.substring(0, colon).trim());
            int end = Integer.parseInt(range.substring(colon + 1).trim());
            if (start >= 0 && end > start) {
                return new int[] {start, end};
            }
        } catch (NumberFormatException e) {
            // fall through to the refusal
        }
        throw ArborException.invalid("option '" + VOCAB_RANGE + "' must be 'all', 'text', 'image' or START:END "
                + "with 0 <= START < END, got '" + range + "'");
    }

    /** Green-list size m for a range of {@code size} ids. */
    int listSize(int size) {
        return (int) Math.round(gamma * size);
    }

    /** The pool over ids [start, end): N bit sets of m ids each. */
    BitSet[] pool(int start, int end) {
        BitSet[] lists = new BitSet[poolSize];
        for (int n = 0; n < poolSize; n++) {
            lists[n] = list(n, start, end);
        }
        return lists;
    }

    /** List n of the pool over ids [start, end). */
    BitSet list(int n, int start, int end) {
        int size = end - start;
        int m = listSize(size);
        int[] ids = new int[size];
        for (int i = 0; i < size; i++) {
            ids[i] = start + i;
        }
        SplittableRandom random = new SplittableRandom(prf("arbor-lbw/v1/list/" + n + "/" + start + ":" + end + "/"
                + m));
        BitSet list = new BitSet(end);
        for (int i = 0; i < m; i++) {
            int j = i + random.nextInt(size - i);
            int t = ids[i];
            ids[i] = ids[j];
            ids[j] = t;
            list.set(ids[i]);
        }
        return list;
    }

    /** The list drawn for an output whose draw from the request RNG was {@code nonce}: HMAC(key, nonce) mod N. */
    int drawList(long nonce) {
        return (int) Long.remainderUnsigned(prf("arbor-lbw/v1/draw/" + nonce), poolSize);
    }

    String keyId(int start, int end) {
        return WatermarkKeys.keyId(SCHEME, Map.of(GREEN_RATIO, gamma, POOL_SIZE, poolSize, VOCAB_RANGE,
                start + ":" + end), key);
    }

    Map<String, Object> describe(int start, int end) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put(GREEN_RATIO, gamma);
        m.put(POOL_SIZE, poolSize);
        m.put(VOCAB_RANGE, start + ":" + end);
        return m;
    }

    /** First 8 bytes of HMAC-SHA256(key, message). */
    private long prf(String message) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
            return ByteBuffer.wrap(mac.doFinal(message.getBytes(StandardCharsets.UTF_8))).getLong();
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HmacSHA256 is required of every Java platform", e);
        }
    }
}
