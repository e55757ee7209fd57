package dev.arbor.testkit;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.SplittableRandom;

/**
 * A causal LM that is an explicit joint distribution P over short symbol sequences, serving the exact conditionals
 * {@code p(x_i | x_<i)} as logits (natural-log probabilities), so that decoding methods can be checked exactly:
 * chi-square tests of sampled sequences against {@link #joint()}, exhaustive search for the most probable sequence
 * against beam search, greedy-equivalence tests (METHODS.md §5.5).
 *
 * <p><b>Tokens.</b> Symbols are ids {@code 0..symbols-1}; id {@code symbols} is a single boundary token that is both
 * BOS and EOS (as GPT-2's {@code <|endoftext|>}), so {@code vocabSize = symbols + 1}. A sequence is fed as
 * {@code [BOS, x1, ..., xm]}; every history must start with BOS. A complete sequence {@code x1..xL} is generated as
 * {@code x1..xL, EOS}; {@link #probability} is the probability of exactly that.
 *
 * <p><b>Conditionals.</b> After {@code [BOS, x1..xm]} the logit of symbol {@code s} is
 * {@code log P(prefix x1..xm s) - log P(prefix x1..xm)} and the logit of EOS is
 * {@code log P(complete x1..xm) - log P(prefix x1..xm)}, where {@code P(prefix u)} is the total probability of the
 * complete sequences starting with {@code u}. Impossible continuations get {@code -inf}. Two conventions make every
 * history well defined: after an EOS the model is absorbed (EOS has probability 1, everything else {@code -inf}),
 * which is how padded-with-EOS batches behave; and a prefix of probability zero gets the uniform distribution,
 * because its conditional is undefined and decoders that carry impossible hypotheses (beam search with fewer finite
 * candidates than slots) must still get finite numbers; any continuation of such a prefix has probability 0 anyway.
 * Logits are rounded to float; the exact values are available in double through {@link #conditional}.
 *
 * <p><b>Context.</b> {@code maxPositions = maxLength + 2} (BOS, the symbols, EOS), so a generator starting from
 * {@code [BOS]} can produce every complete sequence including its EOS and no more.
 *
 * <p><b>Modes.</b> Only the causal (CLM) mode is implemented: causal attention, optionally with left padding, and
 * every state operation. The masked (MDLM, SAME or NEXT alignment, conditionals by marginalising over observed
 * positions) and image (one-hot codebook) modes of METHODS.md §5.5 are for later; {@code Full}, {@code Segments}
 * and {@code Explicit} attention are refused with a message saying so.
 */
public final class EnumeratedJointBackend extends TokenHistoryBackend {
    /** The most symbols supported; the design asks for 3-5, two is allowed for hand-built cases. */
    public static final int MAX_SYMBOLS = 8;
    /** The longest enumerated (random) sequence; 5 keeps the table at most 8^5 entries. */
    public static final int MAX_ENUMERATED_LENGTH = 5;
    /** The longest sequence of an explicit table (the prefix code must fit a long). */
    public static final int MAX_EXPLICIT_LENGTH = 12;

    private final int symbols;
    private final int maxLength;
    private final ModelCard card;
    /** Complete sequences with positive probability, ordered by length then lexicographically. */
    private final Map<List<Integer>, Double> joint;
    /** Probability that the sequence starts with the keyed prefix (key = {@link #code}). */
    private final Map<Long, Double> prefixMass = new HashMap<>();
    /** Probability that the sequence is exactly the keyed prefix. */
    private final Map<Long, Double> completeMass = new HashMap<>();

    private EnumeratedJointBackend(String name, int symbols, Map<List<Integer>, Double> weights) {
        if (symbols < 2 || symbols > MAX_SYMBOLS) {
            throw new IllegalArgumentException("symbols must be between 2 and " + MAX_SYMBOLS + ", got " + symbols);
        }
        this.symbols = symbols;
        double total = 0;
        int longest = 0;
        for (Map.Entry<List<Integer>, Double> e : weights.entrySet()) {
            double w = e.getValue();
            if (!(w >= 0) || Double.isInfinite(w)) {
                throw new IllegalArgumentException("weight of " + e.getKey() + " must be finite and >= 0, got " + w);
            }
            if (e.getKey().size() > MAX_EXPLICIT_LENGTH) {
                throw new IllegalArgumentException("sequence " + e.getKey() + " is longer than "
                        + MAX_EXPLICIT_LENGTH);
            }
            for (int s : e.getKey()) {
                if (s < 0 || s >= symbols) {
                    throw new IllegalArgumentException("sequence " + e.getKey() + " uses symbol " + s
                            + " outside [0, " + symbols + ")");
                }
            }
            total += w;
            if (w > 0) {
                longest = Math.max(longest, e.getKey().size());
            }
        }
        if (!(total > 0)) {
            throw new IllegalArgumentException("the joint needs at least one sequence of positive weight");
        }
        this.maxLength = longest;
        List<List<Integer>> keys = new ArrayList<>();
        weights.forEach((k, w) -> {
            if (w > 0) {
                keys.add(List.copyOf(k));
            }
        });
        keys.sort(Comparator.<List<Integer>>comparingInt(List::size).thenComparing(EnumeratedJointBackend::lex));
        Map<List<Integer>, Double> normalised = new LinkedHashMap<>();
        for (List<Integer> k : keys) {
            double p = weights.get(k) / total;
            normalised.merge(k, p, Double::sum);
            int[] seq = k.stream().mapToInt(Integer::intValue).toArray();
            completeMass.merge(code(seq, seq.length), p, Double::sum);
            for (int len = 0; len <= seq.length; len++) {
                prefixMass.merge(code(seq, len), p, Double::sum);
            }
        }
        this.joint = Collections.unmodifiableMap(normalised);
        this.card = new ModelCard(name, symbols + 1, maxLength + 2, 0, OptionalInt.of(symbols),
                new int[] {symbols}, OptionalInt.empty(), OptionalInt.empty(), LogitAlignment.NEXT,
                NativeAttention.CAUSAL, 0, EnumSet.of(Capability.PADDING, Capability.BATCH,
                Capability.STATE_TRUNCATE, Capability.STATE_COMPACT, Capability.STATE_FORK,
                Capability.STATE_SELECT_ROWS));
    }

    /**
     * A joint over all {@code symbols^length} sequences of exactly {@code length} symbols with random positive
     * weights {@code exp(1.5 z)}, {@code z} standard normal from a {@link SplittableRandom} seeded with {@code seed}
     * (log-normal weights give distinct, fairly peaked distributions, so argmax sequences are unique in practice).
     */
    public static EnumeratedJointBackend random(int symbols, int length, long seed) {
        checkEnumerated(symbols, length);
        SplittableRandom rng = new SplittableRandom(seed);
        Map<List<Integer>, Double> weights = new LinkedHashMap<>();
        enumerate(symbols, length, seq -> weights.put(seq, weight(rng)));
        return new EnumeratedJointBackend("enumerated-joint(symbols=" + symbols + ", length=" + length + ", seed="
                + seed + ")", symbols, weights);
    }

    /**
     * Like {@link #random}, over all sequences of 1 to {@code maxLength} symbols, so EOS can come early and
     * finished sequences have different lengths (length-penalty tests).
     */
    public static EnumeratedJointBackend randomVariableLength(int symbols, int maxLength, long seed) {
        checkEnumerated(symbols, maxLength);
        SplittableRandom rng = new SplittableRandom(seed);
        Map<List<Integer>, Double> weights = new LinkedHashMap<>();
        for (int len = 1; len <= maxLength; len++) {
            enumerate(symbols, len, seq -> weights.put(seq, weight(rng)));
        }
        return new EnumeratedJointBackend("enumerated-joint(symbols=" + symbols + ", lengths=1.." + maxLength
                + ", seed=" + seed + ")", symbols, weights);
    }

    /**
     * A joint given explicitly: {@code weights} maps complete sequences (symbols only, no BOS/EOS; any lengths up to
     * {@link #MAX_EXPLICIT_LENGTH}) to non-negative weights, normalised here; unlisted sequences have probability 0.
     */
    public static EnumeratedJointBackend of(int symbols, Map<List<Integer>, Double> weights) {
        return new EnumeratedJointBackend("enumerated-joint(explicit, " + weights.size() + " sequences)", symbols,
                weights);
    }

    @Override
    public ModelCard card() {
        return card;
    }

    /** Number of symbols; also the id of the BOS/EOS token. */
    public int symbols() {
        return symbols;
    }

    /** The BOS/EOS id ({@code symbols}). */
    public int boundaryToken() {
        return symbols;
    }

    /** The longest complete sequence with positive probability. */
    public int maxLength() {
        return maxLength;
    }

    /** Every complete sequence with positive probability and its probability (summing to 1). */
    public Map<List<Integer>, Double> joint() {
        return joint;
    }

    /** Probability that the generated sequence is exactly {@code seq} followed by EOS. */
    public double probability(int... seq) {
        checkSymbols(seq);
        return completeMass.getOrDefault(code(seq, seq.length), 0.0);
    }

    /** Probability that the generated sequence starts with {@code prefix} (1 for the empty prefix). */
    public double prefixProbability(int... prefix) {
        checkSymbols(prefix);
        return prefixMass.getOrDefault(code(prefix, prefix.length), 0.0);
    }

    /**
     * The exact next-token distribution after {@code [BOS] + prefix}: entry {@code s} for each symbol, entry
     * {@code symbols} for EOS. Uniform when the prefix has probability 0 (see the class comment).
     */
    public double[] conditional(int... prefix) {
        checkSymbols(prefix);
        double[] p = new double[symbols + 1];
        double mass = prefixProbability(prefix);
        if (mass == 0) {
            Arrays.fill(p, 1.0 / p.length);
            return p;
        }
        int[] extended = Arrays.copyOf(prefix, prefix.length + 1);
        for (int s = 0; s < symbols; s++) {
            extended[prefix.length] = s;
            p[s] = prefixMass.getOrDefault(code(extended, extended.length), 0.0) / mass;
        }
        p[symbols] = probability(prefix) / mass;
        return p;
    }

    /**
     * The exact log-probability of a generated continuation of {@code [BOS]}: {@code tokens} are symbols, optionally
     * ending with EOS (then the EOS term is included). {@code -inf} when impossible.
     */
    public double logProbability(int... tokens) {
        boolean ended = tokens.length > 0 && tokens[tokens.length - 1] == symbols;
        int[] seq = ended ? Arrays.copyOf(tokens, tokens.length - 1) : tokens;
        return Math.log(ended ? probability(seq) : prefixProbability(seq));
    }

    @Override
    protected String attentionRefusal(AttentionSpec base) {
        return base instanceof AttentionSpec.Causal ? null
                : describe() + " implements the causal (CLM) mode only; " + base.getClass().getSimpleName()
                + " attention belongs to the masked (MDLM) and image modes, which are not implemented yet";
    }

    @Override
    protected float[] nextTokenLogits(int[] history, int length) {
        if (history[0] != symbols) {
            throw ArborException.invalid(describe() + ": every sequence must start with BOS (id " + symbols
                    + "), but this one starts with " + history[0]);
        }
        float[] logits = new float[symbols + 1];
        for (int i = 1; i < length; i++) {
            if (history[i] == symbols) {
                // Absorbed after EOS: only EOS may follow.
                Arrays.fill(logits, Float.NEGATIVE_INFINITY);
                logits[symbols] = 0f;
                return logits;
            }
        }
        int[] prefix = Arrays.copyOfRange(history, 1, length);
        double[] p = conditional(prefix);
        for (int v = 0; v < logits.length; v++) {
            logits[v] = (float) Math.log(p[v]);
        }
        return logits;
    }

    private void checkSymbols(int[] seq) {
        if (seq.length > MAX_EXPLICIT_LENGTH) {
            // Longer than any sequence in the table: probability 0 rather than an overflowing code.
            return;
        }
        for (int s : seq) {
            if (s < 0 || s >= symbols) {
                throw new IllegalArgumentException("symbol " + s + " is outside [0, " + symbols
                        + "); sequences passed here hold symbols only, no BOS/EOS");
            }
        }
    }

    /** Bijective base-(symbols+1) code of {@code seq[0..len)}: distinct for distinct sequences of any length. */
    private long code(int[] seq, int len) {
        if (len > MAX_EXPLICIT_LENGTH) {
            return -1;
        }
        long c = 0;
        for (int i = 0; i < len; i++) {
            c = c * (symbols + 1) + seq[i] + 1;
        }
        return c;
    }

    private static double weight(SplittableRandom rng) {
        // Box-Muller written out instead of nextGaussian(): the JDK may change nextGaussian's algorithm, and the
        // tables (and so the tests' expectations) must stay the same for a given seed.
        double u1 = 1.0 - rng.nextDouble();
        double u2 = rng.nextDouble();
        double z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
        return Math.exp(1.5 * z);
    }

    private static void checkEnumerated(int symbols, int length) {
        if (length < 1 || length > MAX_ENUMERATED_LENGTH) {
            throw new IllegalArgumentException("length must be between 1 and " + MAX_ENUMERATED_LENGTH + ", got "
                    + length);
        }
        if (symbols < 2 || symbols > MAX_SYMBOLS) {
            throw new IllegalArgumentException("symbols must be between 2 and " + MAX_SYMBOLS + ", got " + symbols);
        }
    }

    private static void enumerate(int symbols, int length, java.util.function.Consumer<List<Integer>> out) {
        int[] digits = new int[length];
        while (true) {
            List<Integer> seq = new ArrayList<>(length);
            for (int d : digits) {
                seq.add(d);
            }
            out.accept(List.copyOf(seq));
            int i = length - 1;
            while (i >= 0 && ++digits[i] == symbols) {
                digits[i--] = 0;
            }
            if (i < 0) {
                return;
            }
        }
    }

    private static int lex(List<Integer> a, List<Integer> b) {
        for (int i = 0; i < Math.min(a.size(), b.size()); i++) {
            int c = Integer.compare(a.get(i), b.get(i));
            if (c != 0) {
                return c;
            }
        }
        return Integer.compare(a.size(), b.size());
    }
}
