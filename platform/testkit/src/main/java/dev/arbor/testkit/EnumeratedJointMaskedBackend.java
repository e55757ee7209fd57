package dev.arbor.testkit;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.model.StateWrite;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A masked-diffusion LM (MDLM mode of METHODS.md §5.5) that is an explicit joint distribution P over sequences
 * {@code x1..xn}, serving for every position the exact conditional marginal given the tokens its logit row can see,
 * so that masked decoders can be checked exactly: one token per step in random order must sample P itself, and
 * decoding several positions in one step from their marginals must not (the power check).
 *
 * <p><b>Tokens.</b> Symbols are {@code 0..symbols-1}; {@code symbols} is MASK; {@code symbols+1} is a boundary token
 * that is both BOS and EOS. The canvas is {@code [BOS, x1..xn]}: key (and position) 0 must be BOS, position
 * {@code i >= 1} holds {@code x_i}, a symbol, EOS (variable-length joints pad with EOS) or MASK. Any of
 * {@code x1..xn} may be given as prompt: the model does not distinguish prompt from generated tokens.
 *
 * <p><b>Logits.</b> Every key (state slot or new token) has a position: new tokens take
 * {@link ForwardRequest#positions()} when given, else state length + index; a slot keeps the position it was written
 * with. The logit row of a new token at position {@code k} predicts position {@code k} under SAME alignment and
 * {@code k+1} under NEXT. Its entry {@code v} is {@code log P(x_p = v | x_j = t_j for every visible key at a position
 * j != p holding a non-MASK token)}, marginalising over the positions that are masked or invisible. Two visible keys
 * at one position are refused (a stale cache slot left visible beside its replacement). Visibility is the request's attention: {@code Full} (every slot and new
 * token), {@code Causal} or {@code Segments}; so under block-causal attention later blocks are marginalised out,
 * which is exactly what a block-causal model knows. Position 0 is predicted as BOS and positions past {@code n} as
 * EOS (one-hot). MASK always gets {@code -inf}. Observations of probability zero give the uniform distribution over
 * symbols and EOS (the conditional is undefined there; decoders must still get finite numbers).
 *
 * <p><b>State.</b> A {@link DecodeState} is a list of token slots, written by {@link StateWrite#APPEND} or
 * {@link StateWrite.At} (which replaces the slot's token and position). Because a slot keeps the token it was written with, a
 * cached forward that reads a slot written while it was still MASK sees MASK there: this backend models the
 * staleness of approximate KV caches (a sub-block cache, a dual cache) faithfully at the level of tokens, while an
 * exact cache (committed blocks) gives bit-identical logits to recompute. It does not model the other staleness of a
 * real transformer, whose cached keys also depend on what those tokens attended to: a bidirectional model's prefix
 * KV computed while later positions were masked is exact here but approximate in a real network.
 *
 * <p>Conditionals are memoised per (visible observations, position), so statistical tests with 10^5 decodes stay
 * fast. Batches of one row only. Thread-safe.
 */
public final class EnumeratedJointMaskedBackend implements ModelBackend {
    /** The longest sequence; 6 keeps the table at most 5^6 entries. */
    public static final int MAX_LENGTH = 6;

    private final int symbols;
    private final int length;
    private final int mask;
    private final int boundary;
    private final ModelCard card;
    private final Map<List<Integer>, Double> joint;
    private final int[][] sequences;
    private final double[] probabilities;
    private final Map<String, double[]> memo = new ConcurrentHashMap<>();
    private final AtomicInteger forwards = new AtomicInteger();
    private final AtomicInteger openStates = new AtomicInteger();
    private volatile boolean closed;

    private EnumeratedJointMaskedBackend(String name, int symbols, int length, Map<List<Integer>, Double> weights,
                                         LogitAlignment alignment, NativeAttention attention, int blockSize) {
        if (symbols < 2 || symbols > EnumeratedJointBackend.MAX_SYMBOLS) {
            throw new IllegalArgumentException("symbols must be between 2 and " + EnumeratedJointBackend.MAX_SYMBOLS
                    + ", got " + symbols);
        }
        if (length < 1 || length > MAX_LENGTH) {
            throw new IllegalArgumentException("length must be between 1 and " + MAX_LENGTH + ", got " + length);
        }
        if (attention == NativeAttention.CAUSAL) {
            throw new IllegalArgumentException("a masked LM is BIDIRECTIONAL or BLOCK_CAUSAL, not CAUSAL");
        }
        if ((attention == NativeAttention.BLOCK_CAUSAL) != (blockSize > 0)) {
            throw new IllegalArgumentException("a block size is given for BLOCK_CAUSAL models only, got "
                    + attention + " with block size " + blockSize);
        }
        this.symbols = symbols;
        this.length = length;
        this.mask = symbols;
        this.boundary = symbols + 1;
        double total = 0;
        for (Map.Entry<List<Integer>, Double> e : weights.entrySet()) {
            if (e.getKey().size() != length) {
                throw new IllegalArgumentException("sequence " + e.getKey() + " must have " + length + " tokens");
            }
            for (int t : e.getKey()) {
                if (t < 0 || t > boundary || t == mask) {
                    throw new IllegalArgumentException("sequence " + e.getKey() + " uses " + t + "; allowed are "
                            + "symbols 0.." + (symbols - 1) + " and EOS " + boundary);
                }
            }
            double w = e.getValue();
            if (!(w >= 0) || Double.isInfinite(w)) {
                throw new IllegalArgumentException("weight of " + e.getKey() + " must be finite and >= 0, got " + w);
            }
            total += w;
        }
        if (!(total > 0)) {
            throw new IllegalArgumentException("the joint needs at least one sequence of positive weight");
        }
        Map<List<Integer>, Double> normalised = new LinkedHashMap<>();
        for (Map.Entry<List<Integer>, Double> e : weights.entrySet()) {
            if (e.getValue() > 0) {
                normalised.merge(List.copyOf(e.getKey()), e.getValue() / total, Double::sum);
            }
        }
        this.joint = Collections.unmodifiableMap(normalised);
        this.sequences = new int[joint.size()][];
        this.probabilities = new double[joint.size()];
        int i = 0;
        for (Map.Entry<List<Integer>, Double> e : joint.entrySet()) {
            sequences[i] = e.getKey().stream().mapToInt(Integer::intValue).toArray();
            probabilities[i++] = e.getValue();
        }
        EnumSet<Capability> caps = EnumSet.of(Capability.FULL_ATTENTION, Capability.SEGMENT_MASK,
                Capability.STATE_TRUNCATE, Capability.STATE_WRITE_AT);
        this.card = new ModelCard(name + "[" + alignment + ", " + attention + (blockSize > 0 ? " b=" + blockSize : "")
                + "]", symbols + 2, length + 1, 0, OptionalInt.of(boundary), new int[] {boundary},
                OptionalInt.empty(), OptionalInt.of(mask), alignment, attention, blockSize, caps);
    }

    /**
     * A joint over all {@code symbols^length} sequences of exactly {@code length} symbols with log-normal weights
     * {@code exp(1.5 z)} drawn from {@code seed} (as {@link EnumeratedJointBackend#random}), for a bidirectional
     * model with the given alignment.
     */
    public static EnumeratedJointMaskedBackend random(int symbols, int length, long seed, LogitAlignment alignment) {
        return random(symbols, length, seed, alignment, NativeAttention.BIDIRECTIONAL, 0);
    }

    /** As {@link #random(int, int, long, LogitAlignment)} with an explicit native attention and block size. */
    public static EnumeratedJointMaskedBackend random(int symbols, int length, long seed, LogitAlignment alignment,
                                                      NativeAttention attention, int blockSize) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<List<Integer>, Double> weights = new LinkedHashMap<>();
        enumerate(symbols, length, 0, seq -> weights.put(seq, weight(rng)));
        return new EnumeratedJointMaskedBackend("enumerated-masked(symbols=" + symbols + ", length=" + length
                + ", seed=" + seed + ")", symbols, length, weights, alignment, attention, blockSize);
    }

    /**
     * A joint over sequences of 1 to {@code length} symbols padded with EOS to {@code length} tokens (so EOS, once
     * it appears, fills the rest), with log-normal weights drawn from {@code seed}: for EOS-handling tests.
     */
    public static EnumeratedJointMaskedBackend randomVariableLength(int symbols, int length, long seed,
                                                                    LogitAlignment alignment) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<List<Integer>, Double> weights = new LinkedHashMap<>();
        for (int len = 1; len <= length; len++) {
            enumerate(symbols, len, length - len, seq -> weights.put(seq, weight(rng)));
        }
        return new EnumeratedJointMaskedBackend("enumerated-masked(symbols=" + symbols + ", lengths=1.." + length
                + ", seed=" + seed + ")", symbols, length, weights, alignment, NativeAttention.BIDIRECTIONAL, 0);
    }

    /** A joint given explicitly (sequences of exactly {@code length} tokens: symbols, EOS padding allowed). */
    public static EnumeratedJointMaskedBackend of(int symbols, int length, Map<List<Integer>, Double> weights,
                                                  LogitAlignment alignment) {
        return new EnumeratedJointMaskedBackend("enumerated-masked(explicit)", symbols, length, weights, alignment,
                NativeAttention.BIDIRECTIONAL, 0);
    }

    @Override
    public ModelCard card() {
        return card;
    }

    /** The MASK id ({@code symbols}). */
    public int maskToken() {
        return mask;
    }

    /** The BOS/EOS id ({@code symbols + 1}). */
    public int boundaryToken() {
        return boundary;
    }

    /** Number of positions after BOS. */
    public int length() {
        return length;
    }

    /** Every sequence with positive probability and its probability (summing to 1). */
    public Map<List<Integer>, Double> joint() {
        return joint;
    }

    /** Forward calls so far. */
    public int forwardCalls() {
        return forwards.get();
    }

    /** States created and not yet closed. */
    public int openStates() {
        return openStates.get();
    }

    /**
     * The exact distribution of {@code x_position} (1-based) given {@code observed} ({@code observed[i]} is
     * {@code x_{i+1}} or MASK for unobserved), the observation at {@code position} itself ignored; indexed by token
     * id (EOS is {@link #boundaryToken()}; MASK has probability 0).
     */
    public double[] conditional(int position, int[] observed) {
        if (position < 1 || position > length) {
            throw new IllegalArgumentException("position must be in 1.." + length + ", got " + position);
        }
        if (observed.length != length) {
            throw new IllegalArgumentException("need " + length + " observations (MASK for none), got "
                    + observed.length);
        }
        StringBuilder key = new StringBuilder().append(position).append(':');
        for (int i = 0; i < length; i++) {
            key.append(i + 1 == position ? mask : observed[i]).append(',');
        }
        return memo.computeIfAbsent(key.toString(), k -> computeConditional(position, observed)).clone();
    }

    private double[] computeConditional(int position, int[] observed) {
        double[] p = new double[card.vocabSize()];
        double total = 0;
        outer:
        for (int s = 0; s < sequences.length; s++) {
            int[] seq = sequences[s];
            for (int i = 0; i < length; i++) {
                if (i + 1 != position && observed[i] != mask && observed[i] != seq[i]) {
                    continue outer;
                }
            }
            p[seq[position - 1]] += probabilities[s];
            total += probabilities[s];
        }
        if (total == 0) {
            for (int v = 0; v < p.length; v++) {
                p[v] = v == mask ? 0 : 1.0 / (p.length - 1);
            }
            return p;
        }
        for (int v = 0; v < p.length; v++) {
            p[v] /= total;
        }
        return p;
    }

    @Override
    public DecodeState newState(int batchSize) {
        ensureOpen();
        if (batchSize != 1) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " serves batches of one row");
        }
        openStates.incrementAndGet();
        return new SlotState();
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        ensureOpen();
        if (request.tokens() == null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " takes token ids only");
        }
        if (request.batchSize() != 1) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " serves batches of one row");
        }
        AttentionSpec spec = request.attention();
        if (spec instanceof AttentionSpec.WithPadding || spec instanceof AttentionSpec.Explicit) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " serves Full, Causal and "
                    + "Segments attention, not " + spec.getClass().getSimpleName());
        }
        int[] news = request.tokens()[0];
        SlotState state = (SlotState) request.state();
        int[] slotTokens = state == null ? new int[0] : state.tokens();
        int[] slotPositions = state == null ? new int[0] : state.positions();
        int stateLength = slotTokens.length;
        int[] newPositions = new int[news.length];
        for (int j = 0; j < news.length; j++) {
            newPositions[j] = request.positions() == null ? stateLength + j : request.positions()[0][j];
        }
        int total = stateLength + news.length;
        int[] keyTokens = Arrays.copyOf(slotTokens, total);
        int[] keyPositions = Arrays.copyOf(slotPositions, total);
        System.arraycopy(news, 0, keyTokens, stateLength, news.length);
        System.arraycopy(newPositions, 0, keyPositions, stateLength, news.length);
        for (int k = 0; k < total; k++) {
            if (keyPositions[k] < 0 || keyPositions[k] > length) {
                throw ArborException.invalid(card.name() + ": key " + k + " has position " + keyPositions[k]
                        + ", outside 0.." + length);
            }
            if (keyPositions[k] == 0 && keyTokens[k] != boundary) {
                throw ArborException.invalid(card.name() + ": position 0 must hold BOS (" + boundary + "), got "
                        + keyTokens[k]);
            }
        }
        int[] rows = request.logitRows() == null ? range(news.length) : request.logitRows()[0];
        float[][] logits = new float[rows.length][];
        for (int r = 0; r < rows.length; r++) {
            int q = rows[r];
            int[] observed = new int[length];
            Arrays.fill(observed, mask);
            boolean[] seen = new boolean[length + 1];
            for (int k = 0; k < total; k++) {
                if (!visible(spec, q, k, stateLength)) {
                    continue;
                }
                int pos = keyPositions[k];
                if (seen[pos]) {
                    // A real KV cache would attend to both; here it is always a caller bug (a stale slot left
                    // visible next to its replacement), so refuse it loudly.
                    throw ArborException.invalid(card.name() + ": query " + q + " sees two keys at position " + pos);
                }
                seen[pos] = true;
                if (pos >= 1) {
                    observed[pos - 1] = keyTokens[k];
                }
            }
            int position = card.alignment() == LogitAlignment.SAME ? newPositions[q] : newPositions[q] + 1;
            logits[r] = toLogits(position, observed);
        }
        if (state != null) {
            state.write(request.write(), news, newPositions);
        }
        forwards.incrementAndGet();
        return new ForwardResult(new float[][][] {logits}, null);
    }

    private float[] toLogits(int position, int[] observed) {
        float[] out = new float[card.vocabSize()];
        if (position < 1 || position > length) {
            Arrays.fill(out, Float.NEGATIVE_INFINITY);
            out[boundary] = 0f;
            return out;
        }
        double[] p = conditional(position, observed);
        for (int v = 0; v < out.length; v++) {
            out[v] = v == mask ? Float.NEGATIVE_INFINITY : (float) Math.log(p[v]);
        }
        return out;
    }

    private static boolean visible(AttentionSpec spec, int query, int key, int stateLength) {
        if (spec instanceof AttentionSpec.Full) {
            return true;
        }
        if (spec instanceof AttentionSpec.Segments s) {
            return s.keySegment()[0][key] <= s.querySegment()[0][query];
        }
        return key <= stateLength + query; // causal
    }

    @Override
    public void close() {
        closed = true;
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(card.name() + " is closed");
        }
    }

    private static int[] range(int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            r[i] = i;
        }
        return r;
    }

    private static double weight(SplittableRandom rng) {
        // Box-Muller written out, as EnumeratedJointBackend does, so tables stay fixed for a seed across JDKs.
        double u1 = 1.0 - rng.nextDouble();
        double u2 = rng.nextDouble();
        double z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
        return Math.exp(1.5 * z);
    }

    private static void enumerate(int symbols, int len, int eosPadding,
                                  java.util.function.Consumer<List<Integer>> out) {
        int[] digits = new int[len];
        while (true) {
            List<Integer> seq = new ArrayList<>(len + eosPadding);
            for (int d : digits) {
                seq.add(d);
            }
            for (int i = 0; i < eosPadding; i++) {
                seq.add(symbols + 1);
            }
            out.accept(List.copyOf(seq));
            int i = len - 1;
            while (i >= 0 && ++digits[i] == symbols) {
                digits[i--] = 0;
            }
            if (i < 0) {
                return;
            }
        }
    }

    /** Token slots; slot i is position i. */
    private final class SlotState implements DecodeState {
        private int[] slots = new int[0];
        private int[] positions = new int[0];
        private boolean stateClosed;

        int[] tokens() {
            check();
            return slots.clone();
        }

        int[] positions() {
            check();
            return positions.clone();
        }

        void write(StateWrite write, int[] news, int[] newPositions) {
            if (write instanceof StateWrite.Append) {
                int old = slots.length;
                slots = Arrays.copyOf(slots, old + news.length);
                positions = Arrays.copyOf(positions, old + news.length);
                System.arraycopy(news, 0, slots, old, news.length);
                System.arraycopy(newPositions, 0, positions, old, news.length);
            } else if (write instanceof StateWrite.At at) {
                if (at.slots().length != news.length) {
                    throw ArborException.invalid(card.name() + ": write-at gives " + at.slots().length
                            + " slots for " + news.length + " new tokens");
                }
                for (int j = 0; j < news.length; j++) {
                    int s = at.slots()[j];
                    if (s < 0 || s >= slots.length) {
                        throw ArborException.invalid(card.name() + ": write-at slot " + s + " outside the state's "
                                + slots.length + " slots");
                    }
                    slots[s] = news[j];
                    positions[s] = newPositions[j];
                }
            }
        }

        @Override
        public int batchSize() {
            return 1;
        }

        @Override
        public int length() {
            check();
            return slots.length;
        }

        @Override
        public void truncate(int newLength) {
            check();
            if (newLength < 0 || newLength > slots.length) {
                throw ArborException.invalid("cannot truncate " + slots.length + " slots to " + newLength);
            }
            slots = Arrays.copyOf(slots, newLength);
            positions = Arrays.copyOf(positions, newLength);
        }

        @Override
        public void close() {
            if (!stateClosed) {
                stateClosed = true;
                openStates.decrementAndGet();
            }
        }

        private void check() {
            if (stateClosed) {
                throw new IllegalStateException("state is closed");
            }
        }
    }
}
