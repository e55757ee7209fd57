package dev.arbor.generation.stree;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.ToyCausalBackend;
import java.util.Arrays;
import java.util.BitSet;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * Test-only backend that gives tree attention exact semantics over any "history -> next-token logits" function
 * (the testkit's enumerated joint and toy backends serve causal attention only): for every query it collects the
 * keys its mask lets it see, in key order (state slots, then new tokens), and answers the logits of that sequence.
 * So a tree node's logits are its exact conditional given prefix + ancestors, and a wrong mask gives wrong numbers.
 * It also insists that every position id equals the number of keys the query sees minus one, which is what a
 * correct tree flattening must send, and it supports truncate and compact on its token-list state.
 */
final class TreeOracleBackend implements ModelBackend {
    private final ModelCard card;
    private final Function<int[], float[]> logits;
    private int forwards;
    private int openStates;

    TreeOracleBackend(ModelCard base, Set<Capability> capabilities, Function<int[], float[]> logits) {
        this(base, base.maxPositions(), capabilities, logits);
    }

    TreeOracleBackend(ModelCard base, int maxPositions, Set<Capability> capabilities,
                      Function<int[], float[]> logits) {
        this.card = new ModelCard(base.name() + " (tree oracle)", base.vocabSize(), maxPositions, 0,
                base.bosTokenId(), base.eosTokenIds(), base.padTokenId(), base.maskTokenId(), base.alignment(),
                base.nativeAttention(), 0, capabilities);
        this.logits = logits;
    }

    static final Set<Capability> TREE = Set.copyOf(EnumSet.of(Capability.EXPLICIT_MASK, Capability.STATE_TRUNCATE,
            Capability.STATE_COMPACT));

    /** The exact conditionals of {@code joint} (BOS first; absorbed after EOS, as the testkit backend is). */
    static TreeOracleBackend of(EnumeratedJointBackend joint) {
        return of(joint, joint.card().maxPositions());
    }

    /**
     * As {@link #of(EnumeratedJointBackend)} with a longer context, so that whole trees fit in the state next to
     * the prefix (the joint's own context holds exactly BOS + its longest sequence + EOS).
     */
    static TreeOracleBackend of(EnumeratedJointBackend joint, int maxPositions) {
        int bos = joint.boundaryToken();
        Map<List<Integer>, float[]> memo = new HashMap<>();
        return new TreeOracleBackend(joint.card(), maxPositions, TREE, history -> memo.computeIfAbsent(
                Arrays.stream(history).boxed().toList(), h -> {
                    if (history[0] != bos) {
                        throw new IllegalArgumentException("history must start with BOS: " + h);
                    }
                    float[] out = new float[bos + 1];
                    for (int i = 1; i < history.length; i++) {
                        if (history[i] == bos) {
                            Arrays.fill(out, Float.NEGATIVE_INFINITY);
                            out[bos] = 0f;
                            return out;
                        }
                    }
                    double[] p = joint.conditional(Arrays.copyOfRange(history, 1, history.length));
                    for (int v = 0; v < out.length; v++) {
                        out[v] = (float) Math.log(p[v]);
                    }
                    return out;
                }).clone());
    }

    static TreeOracleBackend of(ToyCausalBackend toy) {
        return new TreeOracleBackend(toy.card(), TREE, toy::logitsFor);
    }

    TreeOracleBackend without(Capability capability) {
        EnumSet<Capability> caps = EnumSet.copyOf(card.capabilities());
        caps.remove(capability);
        return new TreeOracleBackend(card, card.maxPositions(), caps, logits);
    }

    int forwards() {
        return forwards;
    }

    int openStates() {
        return openStates;
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
        if (request.batchSize() != 1) {
            throw new IllegalArgumentException("one row only");
        }
        int[] tokens = request.tokens()[0];
        int lq = tokens.length;
        State state = (State) request.state();
        int[] keys = state == null ? new int[0] : Arrays.copyOf(state.tokens, state.length);
        int s = keys.length;
        int[] all = Arrays.copyOf(keys, s + lq);
        System.arraycopy(tokens, 0, all, s, lq);
        if (s + lq > card.maxPositions()) {
            throw ArborException.invalid("context overflow: " + (s + lq) + " > " + card.maxPositions());
        }
        AttentionSpec spec = request.attention();
        BitSet[] visible = new BitSet[lq];
        if (spec instanceof AttentionSpec.Causal) {
            for (int q = 0; q < lq; q++) {
                visible[q] = new BitSet();
                visible[q].set(0, s + q + 1);
            }
        } else if (spec instanceof AttentionSpec.Explicit e) {
            if (!card.supports(Capability.EXPLICIT_MASK)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " lacks EXPLICIT_MASK");
            }
            visible = e.visible()[0];
        } else {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "unsupported " + spec);
        }
        int[] rows = request.logitRows() == null ? java.util.stream.IntStream.range(0, lq).toArray()
                : request.logitRows()[0];
        float[][] out = new float[rows.length][];
        for (int k = 0; k < rows.length; k++) {
            int q = rows[k];
            BitSet bits = visible[q];
            if (!bits.get(s + q) || bits.length() > s + lq) {
                throw new IllegalArgumentException("query " + q + " must see itself and no key past the request: "
                        + bits);
            }
            int[] history = bits.stream().map(i -> all[i]).toArray();
            if (request.positions() != null && request.positions()[0][q] != history.length - 1) {
                throw new IllegalArgumentException("query " + q + " sees " + history.length + " keys but has "
                        + "position " + request.positions()[0][q]);
            }
            out[k] = logits.apply(history);
        }
        if (state != null && request.write() instanceof StateWrite.Append) {
            state.tokens = all;
            state.length = all.length;
        }
        return new ForwardResult(new float[][][] {out}, null);
    }

    @Override
    public void close() {
    }

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
        }

        @Override
        public void compact(int[] keepSlots) {
            if (!card.supports(Capability.STATE_COMPACT)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "no compact");
            }
            int[] kept = new int[keepSlots.length];
            for (int i = 0; i < keepSlots.length; i++) {
                if (keepSlots[i] >= length || (i > 0 && keepSlots[i] <= keepSlots[i - 1])) {
                    throw new IllegalArgumentException("bad keep slots " + Arrays.toString(keepSlots));
                }
                kept[i] = tokens[keepSlots[i]];
            }
            tokens = kept;
            length = kept.length;
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
