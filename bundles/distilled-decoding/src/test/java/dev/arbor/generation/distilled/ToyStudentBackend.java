package dev.arbor.generation.distilled;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
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
import java.util.SplittableRandom;

/**
 * A tiny bidirectional "student" for loop tests: an input-embedding table E (seeded random) and logits of position
 * {@code q} that are a fixed function of every input, {@code h = x_q + Σ_p x_p/(1+|q−p|)},
 * {@code logits[v] = 4·tanh(H[v]·h/√d)}, so every input matters to every row. Records each forward's inputs and
 * attention; capabilities and the card's alignment/attention can be changed to test refusals.
 */
final class ToyStudentBackend implements ModelBackend, EmbeddingAccess {
    static final Set<Capability> ALL = Set.of(Capability.INPUT_EMBEDS, Capability.EMBEDDING_MATRIX,
            Capability.FULL_ATTENTION);

    /** One forward: its inputs [positions][width] (batch row 0) and its attention. */
    record Call(float[][] inputs, AttentionSpec attention, int batch) {
    }

    private final ModelCard card;
    private final float[][] table;
    private final float[][] head;
    private final List<Call> calls = Collections.synchronizedList(new ArrayList<>());

    ToyStudentBackend(int vocab, int width, int maxPositions, long seed, LogitAlignment alignment,
                      NativeAttention attention, Capability... without) {
        EnumSet<Capability> caps = EnumSet.copyOf(ALL);
        for (Capability c : without) {
            caps.remove(c);
        }
        this.card = new ModelCard("toy-dd", vocab, maxPositions, width, OptionalInt.empty(), new int[0],
                OptionalInt.empty(), OptionalInt.empty(), alignment, attention, 0, caps);
        SplittableRandom rng = new SplittableRandom(seed);
        this.table = random(rng, vocab, width);
        this.head = random(rng, vocab, width);
    }

    ToyStudentBackend(int vocab, int width, int maxPositions, long seed) {
        this(vocab, width, maxPositions, seed, LogitAlignment.SAME, NativeAttention.BIDIRECTIONAL);
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

    /** The pure function on a whole input sequence. */
    float[][] logits(float[][] inputs) {
        int d = table[0].length;
        float[][] out = new float[inputs.length][card.vocabSize()];
        for (int q = 0; q < inputs.length; q++) {
            double[] h = new double[d];
            for (int p = 0; p < inputs.length; p++) {
                double w = p == q ? 2 : 1.0 / (1 + Math.abs(q - p));
                for (int i = 0; i < d; i++) {
                    h[i] += w * inputs[p][i];
                }
            }
            for (int v = 0; v < out[q].length; v++) {
                double dot = 0;
                for (int i = 0; i < d; i++) {
                    dot += head[v][i] * h[i];
                }
                out[q][v] = (float) (4 * Math.tanh(dot / Math.sqrt(d)));
            }
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
        throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-dd keeps no state");
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        AttentionSpec spec = request.attention();
        if (!(spec instanceof AttentionSpec.Full) || !card.supports(Capability.FULL_ATTENTION)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-dd serves full attention only, got "
                    + spec);
        }
        if (request.embeddings() == null || !card.supports(Capability.INPUT_EMBEDS)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-dd takes input embeddings only");
        }
        if (request.state() != null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "toy-dd keeps no state");
        }
        if (request.queryLength() > card.maxPositions()) {
            throw ArborException.invalid("toy-dd's context is " + card.maxPositions());
        }
        float[][] x = new float[request.queryLength()][];
        for (int p = 0; p < x.length; p++) {
            x[p] = request.embeddings()[0][p].clone();
        }
        calls.add(new Call(x, spec, request.batchSize()));
        float[][][] out = new float[request.batchSize()][][];
        for (int b = 0; b < out.length; b++) {
            out[b] = logits(request.embeddings()[b]);
        }
        return new ForwardResult(out, null);
    }

    @Override
    public void close() {
    }
}
