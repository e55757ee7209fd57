package dev.arbor.generation.nextx;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.model.StateWrite;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A tiny continuous-latent "prior" for loop tests: a seeded random input-embedding table E, and logits of the query
 * at position {@code q} that are a fixed function of the inputs it sees —
 * {@code h = P[q] + Σ_{p visible} x_p/(1+|q−p|)}, {@code logits[v] = 2·tanh(H[v]·h/√d)} — so a wrong input, a wrong
 * mask or a lost (or wrongly kept) KV slot changes the velocities. Its KV state is a real per-row list of input
 * slots: {@link StateWrite#APPEND} adds the request's inputs, {@link StateWrite#NONE} leaves it as it was. The card
 * carries the given continuous head (null: none). Capabilities can be removed to test refusals.
 */
final class ToyVelocityBackend implements ModelBackend, EmbeddingAccess {
    static final Set<Capability> ALL = Set.of(Capability.SEGMENT_MASK, Capability.INPUT_EMBEDS,
            Capability.EMBEDDING_MATRIX, Capability.BATCH);

    /** One forward: batch, queries, slots held before it, its attention, its write and whether inputs were embeddings. */
    record Call(int batch, int queries, int stateBefore, AttentionSpec attention, StateWrite write,
                boolean embeddings) {
    }

    private final ModelCard card;
    private final float[][] table;
    private final float[][] head;
    private final float[][] positional;
    private final List<Call> calls = Collections.synchronizedList(new ArrayList<>());
    private int openStates;

    ToyVelocityBackend(int vocab, int width, int maxPositions, long seed, ContinuousHead continuous,
                       LogitAlignment alignment, Capability... without) {
        EnumSet<Capability> caps = EnumSet.copyOf(ALL);
        for (Capability c : without) {
            caps.remove(c);
        }
        ModelCard plain = new ModelCard("toy-xar", vocab, maxPositions, width, OptionalInt.empty(), new int[0],
                OptionalInt.empty(), OptionalInt.empty(), alignment, NativeAttention.SCALE_CAUSAL, 0, caps);
        this.card = continuous == null ? plain : plain.withHeads(1, continuous);
        SplittableRandom rng = new SplittableRandom(seed);
        this.table = random(rng, vocab, width);
        this.head = random(rng, vocab, width);
        this.positional = random(rng, maxPositions, width);
    }

    private static float[][] random(SplittableRandom rng, int rows, int width) {
        float[][] m = new float[rows][width];
        for (float[] row : m) {
            for (int i = 0; i < width; i++) {
                row[i] = (float) (rng.nextDouble() * 2 - 1);
            }
        }
        return m;
    }

    List<Call> calls() {
        return List.copyOf(calls);
    }

    int openStates() {
        return openStates;
    }

    /** The pure function: logits of the query at {@code q} of a sequence of {@code inputs} seeing {@code visible}. */
    float[] logits(float[][] inputs, int q, boolean[] visible) {
        int d = table[0].length;
        double[] h = new double[d];
        for (int i = 0; i < d; i++) {
            h[i] = positional[q][i];
        }
        for (int p = 0; p < inputs.length; p++) {
            if (visible[p]) {
                double w = 1.0 / (1 + Math.abs(q - p));
                for (int i = 0; i < d; i++) {
                    h[i] += w * inputs[p][i];
                }
            }
        }
        float[] out = new float[card.vocabSize()];
        for (int v = 0; v < out.length; v++) {
            double dot = 0;
            for (int i = 0; i < d; i++) {
                dot += head[v][i] * h[i];
            }
            out[v] = (float) (2 * Math.tanh(dot / Math.sqrt(d)));
        }
        return out;
    }

    @Override
    public float[] embedding(int tokenId) {
        return table[tokenId].clone();
    }

    @Override
    public int embeddingSize() {
        return table[0].length;
    }

    @Override
    public ModelCard card() {
        return card;
    }

    @Override
    public DecodeState newState(int batchSize) {
        if (batchSize > 1 && !card.supports(Capability.BATCH)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-xar does not support batches");
        }
        openStates++;
        return new State(batchSize);
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        AttentionSpec spec = request.attention();
        Capability needed = spec.requiredCapability();
        if (needed != null && !card.supports(needed) || !(spec instanceof AttentionSpec.Causal
                || spec instanceof AttentionSpec.Segments)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-xar does not serve " + spec);
        }
        if (request.embeddings() != null && !card.supports(Capability.INPUT_EMBEDS)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-xar does not take input embeddings");
        }
        if (request.write() instanceof StateWrite.At) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-xar does not write at slots");
        }
        State state = (State) request.state();
        int held = state == null ? 0 : state.length();
        int lq = request.queryLength();
        if (held + lq > card.maxPositions()) {
            throw ArborException.invalid("toy-xar's context is " + card.maxPositions());
        }
        calls.add(new Call(request.batchSize(), lq, held, spec, request.write(), request.embeddings() != null));
        float[][][] logits = new float[request.batchSize()][][];
        for (int b = 0; b < request.batchSize(); b++) {
            float[][] inputs = new float[held + lq][];
            for (int p = 0; p < held; p++) {
                inputs[p] = state.inputs.get(b).get(p);
            }
            for (int j = 0; j < lq; j++) {
                float[] x = request.tokens() != null ? table[request.tokens()[b][j]] : request.embeddings()[b][j];
                if (x.length != table[0].length) {
                    throw ArborException.invalid("embedding of width " + x.length + ", expected " + table[0].length);
                }
                inputs[held + j] = x.clone();
            }
            logits[b] = new float[lq][];
            for (int j = 0; j < lq; j++) {
                boolean[] visible = new boolean[held + lq];
                for (int p = 0; p < visible.length; p++) {
                    visible[p] = spec instanceof AttentionSpec.Segments s
                            ? s.keySegment()[b][p] <= s.querySegment()[b][j] : p <= held + j;
                }
                logits[b][j] = logits(inputs, held + j, visible);
            }
            if (state != null && request.write() instanceof StateWrite.Append) {
                for (int j = 0; j < lq; j++) {
                    state.inputs.get(b).add(inputs[held + j]);
                }
            }
        }
        return new ForwardResult(logits, null);
    }

    @Override
    public void close() {
    }

    private final class State implements DecodeState {
        private final List<List<float[]>> inputs = new ArrayList<>();
        private boolean closed;

        State(int batch) {
            for (int b = 0; b < batch; b++) {
                inputs.add(new ArrayList<>());
            }
        }

        @Override
        public int batchSize() {
            return inputs.size();
        }

        @Override
        public int length() {
            return inputs.get(0).size();
        }

        @Override
        public void truncate(int newLength) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-xar does not truncate");
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
