package dev.arbor.generation.tidar;

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
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.Arrays;
import java.util.BitSet;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.function.Function;

/**
 * Test-only dual-mode "model" with exact semantics for any explicit mask: each query's logits are computed from the
 * keys its mask lets it see, in key order. A query on an ordinary token gets the AR logits of exactly that sequence
 * (the oracle's exact conditional); a query on a MASK gets the draft logits of (the visible non-MASK prefix, the
 * MASK's index among the visible MASKs), an arbitrary distribution the tests choose (deliberately wrong ones
 * included). It refuses what a correct TiDAR forward never sends: an AR query that sees a MASK, a MASK query whose
 * prefix is not the keys 0..L-1 or that sees MASKs of another block, position ids that disagree with what the query
 * sees, and a query seeing keys past itself in the causal section.
 */
final class TiDarOracleBackend implements ModelBackend {
    static final Set<Capability> CAPABILITIES = Set.copyOf(EnumSet.of(Capability.EXPLICIT_MASK,
            Capability.STATE_TRUNCATE));

    private final ModelCard card;
    private final int mask;
    private final Function<int[], float[]> ar;
    private final BiFunction<int[], Integer, float[]> draft;
    private final Map<List<Integer>, float[]> arMemo = new HashMap<>();
    int forwards;
    int openStates;
    long maskQueries;

    /**
     * @param ar    history (BOS first) -> next-token logits
     * @param draft (visible prefix, index i of the MASK in its block) -> logits of the token at prefix length + i + 1
     */
    TiDarOracleBackend(String name, int vocab, int maxPositions, OptionalInt bos, int[] eos, int mask,
                       Set<Capability> capabilities, Function<int[], float[]> ar,
                       BiFunction<int[], Integer, float[]> draft) {
        this.card = new ModelCard(name + " (tidar oracle)", vocab, maxPositions, 0, bos, eos, OptionalInt.empty(),
                mask < 0 ? OptionalInt.empty() : OptionalInt.of(mask), LogitAlignment.NEXT, NativeAttention.CAUSAL, 0,
                capabilities);
        this.mask = mask;
        this.ar = ar;
        this.draft = draft;
    }

    /**
     * The exact conditionals of {@code joint} for the AR rows (absorbed after EOS) and {@code draft} for the MASK
     * rows, over the joint's vocabulary plus one MASK id ({@code vocab = symbols + 2}, never a probable token).
     */
    static TiDarOracleBackend of(EnumeratedJointBackend joint, int maxPositions,
                                 BiFunction<int[], Integer, float[]> draft) {
        int bos = joint.boundaryToken();
        int vocab = bos + 2;
        return new TiDarOracleBackend(joint.card().name(), vocab, maxPositions, OptionalInt.of(bos),
                new int[] {bos}, bos + 1, CAPABILITIES, history -> {
                    float[] out = new float[vocab];
                    Arrays.fill(out, Float.NEGATIVE_INFINITY);
                    if (history[0] != bos) {
                        throw new IllegalArgumentException("history must start with BOS: " + Arrays.toString(history));
                    }
                    for (int i = 1; i < history.length; i++) {
                        if (history[i] == bos) {
                            out[bos] = 0f;
                            return out;
                        }
                        if (history[i] == bos + 1) {
                            throw new IllegalArgumentException("an AR row saw a MASK: " + Arrays.toString(history));
                        }
                    }
                    double[] p = joint.conditional(Arrays.copyOfRange(history, 1, history.length));
                    for (int v = 0; v < p.length; v++) {
                        out[v] = (float) Math.log(p[v]);
                    }
                    return out;
                }, draft);
    }

    /**
     * {@code ar} for the AR rows (a toy's logits with {@code mask} made impossible, see {@link #withoutMask}) over the
     * toy's vocabulary; {@code declareMask} false leaves the MASK id out of the card (the generator must then be
     * told it by option).
     */
    static TiDarOracleBackend of(ToyCausalBackend toy, int mask, boolean declareMask, Set<Capability> capabilities,
                                 BiFunction<int[], Integer, float[]> draft) {
        ModelCard c = toy.card();
        TiDarOracleBackend b = new TiDarOracleBackend(c.name(), c.vocabSize(), c.maxPositions(), c.bosTokenId(),
                c.eosTokenIds(), mask, capabilities, h -> withoutMask(toy, mask, h), draft);
        return declareMask ? b : b.undeclared();
    }

    /** The toy's logits after {@code history} with the MASK id impossible, so it is never a committed token. */
    static float[] withoutMask(ToyCausalBackend toy, int mask, int[] history) {
        float[] logits = toy.logitsFor(history);
        logits[mask] = Float.NEGATIVE_INFINITY;
        return logits;
    }

    private TiDarOracleBackend undeclared() {
        TiDarOracleBackend b = new TiDarOracleBackend(card.name().replace(" (tidar oracle)", ""), card.vocabSize(),
                card.maxPositions(), card.bosTokenId(), card.eosTokenIds(), mask, card.capabilities(), ar, draft);
        return new TiDarOracleBackend(b, OptionalInt.empty());
    }

    private TiDarOracleBackend(TiDarOracleBackend b, OptionalInt declared) {
        ModelCard c = b.card;
        this.card = new ModelCard(c.name(), c.vocabSize(), c.maxPositions(), 0, c.bosTokenId(), c.eosTokenIds(),
                OptionalInt.empty(), declared, LogitAlignment.NEXT, NativeAttention.CAUSAL, 0, c.capabilities());
        this.mask = b.mask;
        this.ar = b.ar;
        this.draft = b.draft;
    }

    @Override
    public ModelCard card() {
        return card;
    }

    @Override
    public DecodeState newState(int batchSize) {
        if (batchSize != 1) {
            throw new IllegalArgumentException("one row only");
        }
        openStates++;
        return new State();
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        forwards++;
        int[] tokens = request.tokens()[0];
        int lq = tokens.length;
        State state = (State) request.state();
        int s = state == null ? 0 : state.length;
        int[] all = Arrays.copyOf(state == null ? new int[0] : state.tokens, s + lq);
        System.arraycopy(tokens, 0, all, s, lq);
        if (s + lq > card.maxPositions()) {
            throw ArborException.invalid("context overflow: " + (s + lq) + " slots > " + card.maxPositions());
        }
        BitSet[] visible;
        if (request.attention() instanceof AttentionSpec.Explicit e) {
            visible = e.visible()[0];
        } else if (request.attention() instanceof AttentionSpec.Causal) {
            visible = new BitSet[lq];
            for (int q = 0; q < lq; q++) {
                visible[q] = new BitSet();
                visible[q].set(0, s + q + 1);
            }
        } else {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "unsupported " + request.attention());
        }
        int[] positions = request.positions() == null ? null : request.positions()[0];
        int[] rows = request.logitRows() == null ? java.util.stream.IntStream.range(0, lq).toArray()
                : request.logitRows()[0];
        float[][] out = new float[rows.length][];
        for (int r = 0; r < rows.length; r++) {
            int q = rows[r];
            BitSet bits = visible[q];
            if (!bits.get(s + q)) {
                throw new IllegalArgumentException("query " + q + " does not see itself: " + bits);
            }
            if (tokens[q] != mask) {
                if (bits.length() != s + q + 1 || bits.cardinality() != s + q + 1) {
                    throw new IllegalArgumentException("AR query " + q + " must see exactly the keys 0.." + (s + q)
                            + ", sees " + bits);
                }
                int[] history = bits.stream().map(i -> all[i]).toArray();
                checkPosition(positions, q, history.length - 1);
                out[r] = arMemo.computeIfAbsent(Arrays.stream(history).boxed().toList(), h -> ar.apply(history))
                        .clone();
                continue;
            }
            maskQueries++;
            int prefix = 0;
            while (bits.get(prefix) && all[prefix] != mask) {
                prefix++;
            }
            int firstOfBlock = bits.nextSetBit(prefix);
            int blockKeys = bits.cardinality() - prefix;
            int index = 0;
            for (int k = firstOfBlock; k >= 0; k = bits.nextSetBit(k + 1)) {
                if (all[k] != mask) {
                    throw new IllegalArgumentException("MASK query " + q + " sees token key " + k + " after a gap in "
                            + "its prefix 0.." + (prefix - 1) + ": " + bits);
                }
                if (k >= firstOfBlock + blockKeys) {
                    throw new IllegalArgumentException("MASK query " + q + " sees a non-contiguous block: " + bits);
                }
                if (k < s + q) {
                    index++;
                }
            }
            checkPosition(positions, q, prefix + index);
            out[r] = draft.apply(Arrays.copyOf(all, prefix), index);
        }
        if (state != null && request.write() instanceof StateWrite.Append) {
            state.tokens = all;
            state.length = all.length;
        }
        return new ForwardResult(new float[][][] {out}, null);
    }

    private static void checkPosition(int[] positions, int q, int expected) {
        if (positions != null && positions[q] != expected) {
            throw new IllegalArgumentException("query " + q + " has position " + positions[q] + " but what it sees "
                    + "puts it at " + expected);
        }
    }

    @Override
    public void close() {
    }

    /** The token-list state: truncate only. */
    private final class State implements DecodeState {
        int[] tokens = new int[0];
        int length;
        boolean closed;

        @Override
        public int batchSize() {
            return 1;
        }

        @Override
        public int length() {
            return length;
        }

        @Override
        public void truncate(int newLength) {
            if (!card.supports(Capability.STATE_TRUNCATE)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "no truncate");
            }
            if (newLength < 0 || newLength > length) {
                throw new IllegalArgumentException("truncate " + length + " to " + newLength);
            }
            length = newLength;
            for (int i = 0; i < length; i++) {
                if (tokens[i] == mask) {
                    throw new IllegalStateException("the state kept a MASK at slot " + i);
                }
            }
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                openStates--;
            }
        }
    }
}
