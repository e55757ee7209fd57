package dev.arbor.generation.tokenshuffle;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A tiny Token-Shuffle "prior" for loop tests: {@code heads} output heads over slots of {@code slotVocab} ids, a
 * one-hot input-embedding table (E[id] = e_id, width = vocabulary), so a merged window {@code Σ_h E[h·V + c_h]}
 * decodes back into its ids exactly. The query at position q, seeing inputs x_0..x_q, predicts for head h the code
 * {@link #target}: a function of q, h and every id it sees, so a wrong input, a lost KV slot or a wrong slot changes
 * it. Its logits put 5 on the target and 9 on the slice's first non-code id (a generator must mask non-codes per
 * head). Its KV state is a real per-row list of inputs. Every call is recorded with the ids its inputs decode to.
 */
final class ToyWindowBackend implements ModelBackend, EmbeddingAccess {
    static final Set<Capability> ALL = Set.of(Capability.INPUT_EMBEDS, Capability.EMBEDDING_MATRIX,
            Capability.BATCH);

    /** One forward: batch, whether inputs were embeddings, and per row the ids of its (single) new input. */
    record Call(int batch, boolean embeddings, List<List<Integer>> ids) {
    }

    private final ModelCard card;
    private final int slotVocab;
    private final int codes;
    private final List<Call> calls = Collections.synchronizedList(new ArrayList<>());

    ToyWindowBackend(int slotVocab, int codes, int heads, int maxPositions, Capability... without) {
        EnumSet<Capability> caps = EnumSet.copyOf(ALL);
        for (Capability c : without) {
            caps.remove(c);
        }
        this.slotVocab = slotVocab;
        this.codes = codes;
        this.card = new ModelCard("toy-shuffle", slotVocab * heads, maxPositions, slotVocab * heads,
                OptionalInt.empty(), new int[0], OptionalInt.empty(), OptionalInt.empty(), LogitAlignment.NEXT,
                NativeAttention.CAUSAL, 0, caps, heads, null);
    }

    List<Call> calls() {
        return List.copyOf(calls);
    }

    /** The code head {@code h} predicts at position {@code q} after the inputs with ids {@code seen} (all rows). */
    int target(List<List<Integer>> seen, int q, int h) {
        long hash = 17;
        for (int p = 0; p < seen.size(); p++) {
            for (int id : seen.get(p)) {
                hash = hash * 31 + (long) id * (p + 1);
            }
        }
        return (int) Math.floorMod(hash + 5L * q + 3L * h, (long) codes);
    }

    @Override
    public float[] embedding(int tokenId) {
        float[] e = new float[card.vocabSize()];
        e[tokenId] = 1f;
        return e;
    }

    @Override
    public int embeddingSize() {
        return card.vocabSize();
    }

    @Override
    public ModelCard card() {
        return card;
    }

    @Override
    public DecodeState newState(int batchSize) {
        if (batchSize > 1 && !card.supports(Capability.BATCH)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-shuffle does not support batches");
        }
        return new State(batchSize);
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        if (request.embeddings() != null && !card.supports(Capability.INPUT_EMBEDS)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-shuffle does not take embeddings");
        }
        State state = (State) request.state();
        if (state == null || request.queryLength() != 1) {
            throw new IllegalStateException("toy-shuffle serves one new input per row on a state");
        }
        if (state.length() + 1 > card.maxPositions()) {
            throw ArborException.invalid("toy-shuffle's context is " + card.maxPositions());
        }
        List<List<Integer>> news = new ArrayList<>();
        float[][][] logits = new float[request.batchSize()][1][];
        for (int b = 0; b < request.batchSize(); b++) {
            List<Integer> ids = new ArrayList<>();
            if (request.tokens() != null) {
                ids.add(request.tokens()[b][0]);
            } else {
                float[] x = request.embeddings()[b][0];
                for (int i = 0; i < x.length; i++) {
                    for (int k = 0; k < Math.round(x[i]); k++) {
                        ids.add(i);
                    }
                }
            }
            news.add(ids);
            state.rows.get(b).add(ids);
            List<List<Integer>> seen = state.rows.get(b);
            int q = seen.size() - 1;
            float[] row = new float[card.vocabSize()];
            for (int h = 0; h < card.outputHeads(); h++) {
                row[h * slotVocab + target(seen, q, h)] = 5f;
                row[h * slotVocab + codes] = 9f;
            }
            logits[b][0] = row;
        }
        calls.add(new Call(request.batchSize(), request.embeddings() != null, news));
        return new ForwardResult(logits, null);
    }

    @Override
    public <T> java.util.Optional<T> extension(Class<T> type) {
        return type == EmbeddingAccess.class ? java.util.Optional.of(type.cast(this)) : java.util.Optional.empty();
    }

    @Override
    public void close() {
    }

    private static final class State implements DecodeState {
        private final List<List<List<Integer>>> rows = new ArrayList<>();

        State(int batch) {
            for (int b = 0; b < batch; b++) {
                rows.add(new ArrayList<>());
            }
        }

        @Override
        public int batchSize() {
            return rows.size();
        }

        @Override
        public int length() {
            return rows.get(0).size();
        }

        @Override
        public void truncate(int newLength) {
            throw new UnsupportedOperationException("toy-shuffle does not truncate");
        }

        @Override
        public void close() {
        }
    }
}
