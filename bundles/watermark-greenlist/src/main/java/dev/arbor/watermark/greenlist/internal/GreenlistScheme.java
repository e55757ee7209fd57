package dev.arbor.watermark.greenlist.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.watermark.WatermarkKeys;
import java.math.BigInteger;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The green-list scheme of Kirchenbauer et al. 2023 exactly as Hugging Face implements it
 * ({@code transformers.generation.logits_process.WatermarkLogitsProcessor} and
 * {@code transformers.generation.watermarking.WatermarkDetector}), shared by the processor and the detector so that
 * both compute the same green lists. Options (HF {@code WatermarkingConfig} names):
 * <ul>
 *   <li>{@code greenlist_ratio} γ in (0, 1), default 0.25: the green list is the first {@code int(V·γ)} ids of a
 *       seeded permutation of the V ids;</li>
 *   <li>{@code hashing_key}: <b>required</b>, an integer in [1, 2^63−1] (HF's default key 15485863 is deliberately
 *       not built in: keys are configuration);</li>
 *   <li>{@code seeding_scheme}: {@code lefthash} (default; the seed is {@code hashing_key · x} with x the token
 *       right before the scored one — HF hashes only that token whatever the context width) or {@code selfhash}
 *       (the seed is {@code min_j(hashing_key · a_j · b)} over the window of the last {@code context_width} tokens
 *       <em>including the candidate itself</em>, {@code a_j = table[x_j mod 1000003] + 1},
 *       {@code b = table[x_last mod 1000003] + 1}, {@code table = randperm(1000003)} seeded with the key, in
 *       wrapping 64-bit arithmetic); with {@code context_width} 1 the window is the candidate alone, so a token's
 *       colour no longer depends on its context (a fixed, context-free list): use 2 or more (the paper's follow-up,
 *       "On the Reliability of Watermarks for Large Language Models", uses selfhash with width 4);</li>
 *   <li>{@code context_width}, default 1: tokens a position needs before it (lefthash: {@code context_width}
 *       before; selfhash: {@code context_width − 1} before plus itself).</li>
 * </ul>
 * Every seed goes through Python's {@code seed % (2**64 - 1)} and {@code torch.Generator.manual_seed}, and the
 * permutation is {@code torch.randperm(V)} ({@link TorchGenerator}), so the lists are bit-identical to HF's for the
 * same key and vocabulary size.
 */
final class GreenlistScheme {
    static final String GREENLIST_RATIO = "greenlist_ratio";
    static final String HASHING_KEY = "hashing_key";
    static final String SEEDING_SCHEME = "seeding_scheme";
    static final String CONTEXT_WIDTH = "context_width";
    static final String SCHEME = "kirchenbauer-greenlist";
    /** HF's {@code table_size}. */
    static final int TABLE_SIZE = 1_000_003;
    /** HF's {@code _score_rejection_sampling} looks at this many top candidates. */
    static final int SELFHASH_CANDIDATES = 40;
    static final int MAX_CONTEXT_WIDTH = 1024;
    private static final BigInteger SEED_MODULUS = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);
    /** The selfhash tables (4 MB each) of the last few keys: a table costs ~10 ms to build, once per key. */
    private static final Map<Long, int[]> TABLES = new ConcurrentHashMap<>();

    final double gamma;
    final long key;
    final boolean selfhash;
    final int contextWidth;
    final String keyId;
    private final Map<Long, BitSet> lists = new LinkedHashMap<>(256, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, BitSet> eldest) {
            return size() > 4096;
        }
    };

    private GreenlistScheme(double gamma, long key, boolean selfhash, int contextWidth) {
        this.gamma = gamma;
        this.key = key;
        this.selfhash = selfhash;
        this.contextWidth = contextWidth;
        this.keyId = WatermarkKeys.keyId(SCHEME, Map.of(GREENLIST_RATIO, gamma,
                SEEDING_SCHEME, selfhash ? "selfhash" : "lefthash", CONTEXT_WIDTH, contextWidth), Long.toString(key));
    }

    /** Reads and validates the scheme's options for part {@code part}; INVALID_INPUT naming the option otherwise. */
    static GreenlistScheme from(Options options, String part) {
        double gamma = options.number(GREENLIST_RATIO, 0.25, 0, 1);
        if (gamma == 0 || gamma == 1) {
            throw ArborException.invalid("option '" + GREENLIST_RATIO + "' must be greater than 0 and less than 1"
                    + " (the fraction of the vocabulary that is green), got " + options.raw(GREENLIST_RATIO)
                    .orElse(gamma));
        }
        String scheme = options.string(SEEDING_SCHEME, "lefthash").trim();
        if (!scheme.equals("lefthash") && !scheme.equals("selfhash")) {
            throw ArborException.invalid("option '" + SEEDING_SCHEME + "' must be 'lefthash' or 'selfhash', got '"
                    + scheme + "'");
        }
        int width = options.integer(CONTEXT_WIDTH, 1, 1, MAX_CONTEXT_WIDTH);
        String keyText = WatermarkKeys.requireKey(options, HASHING_KEY, part, "<a positive integer>");
        long key;
        try {
            key = Long.parseLong(keyText);
        } catch (NumberFormatException e) {
            key = -1;
        }
        if (key < 1) {
            // never echo the value: it is a secret
            throw ArborException.invalid("option '" + HASHING_KEY + "' of part '" + part + "' must be an integer "
                    + "between 1 and " + Long.MAX_VALUE + " (Hugging Face WatermarkingConfig.hashing_key); the "
                    + "configured value is not (not shown, as it is a secret)");
        }
        return new GreenlistScheme(gamma, key, scheme.equals("selfhash"), width);
    }

    String seedingScheme() {
        return selfhash ? "selfhash" : "lefthash";
    }

    /** HF's {@code greenlist_size = int(vocab_size * greenlist_ratio)}. */
    int greenlistSize(int vocabSize) {
        return (int) (vocabSize * gamma);
    }

    /**
     * HF's {@code set_seed} on the window {@code tokens[end - context_width, end)} (clipped at 0), returning the
     * 64-bit value handed to {@code manual_seed}.
     */
    long seed(int[] tokens, int end) {
        int start = Math.max(0, end - contextWidth);
        int last = tokens[end - 1];
        if (!selfhash) {
            return BigInteger.valueOf(key).multiply(BigInteger.valueOf(last)).mod(SEED_MODULUS).longValue();
        }
        int[] table = table();
        long b = table[Math.floorMod(last, TABLE_SIZE)] + 1L;
        long min = Long.MAX_VALUE;
        for (int i = start; i < end; i++) {
            long a = table[Math.floorMod(tokens[i], TABLE_SIZE)] + 1L;
            min = Math.min(min, key * a * b);
        }
        // Python: seed % (2**64 - 1) on a signed 64-bit value
        return min >= 0 ? min : min - 1;
    }

    /** The green list for {@code seed} over {@code vocabSize} ids (cached; not thread-safe: one per request). */
    BitSet greenList(long seed, int vocabSize) {
        long cacheKey = seed * 31 + vocabSize;
        BitSet cached = lists.get(cacheKey);
        if (cached != null) {
            return cached;
        }
        int[] permutation = new TorchGenerator(seed).randperm(vocabSize);
        BitSet green = new BitSet(vocabSize);
        for (int i = 0, size = greenlistSize(vocabSize); i < size; i++) {
            green.set(permutation[i]);
        }
        lists.put(cacheKey, green);
        return green;
    }

    private int[] table() {
        int[] table = TABLES.get(key);
        if (table == null) {
            table = new TorchGenerator(key).randperm(TABLE_SIZE);
            if (TABLES.size() >= 4) {
                TABLES.clear();
            }
            TABLES.put(key, table);
        }
        return table;
    }

    /** The parameters that identify the scheme in reports (never the key). */
    Map<String, Object> describe() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put(GREENLIST_RATIO, gamma);
        m.put(SEEDING_SCHEME, seedingScheme());
        m.put(CONTEXT_WIDTH, contextWidth);
        return m;
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s(gamma=%s, %s, context_width=%d, key id %s)", SCHEME, gamma,
                seedingScheme(), contextWidth, keyId);
    }
}
