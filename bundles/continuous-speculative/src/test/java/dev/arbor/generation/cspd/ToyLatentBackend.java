package dev.arbor.generation.cspd;

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
import java.util.EnumSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A tiny causal continuous-latent "prior" for loop tests, with a GAUSSIAN head over {@link ToyLatentCodec}'s layout:
 * an input-embedding table E (seeded random), and the head of the query at position q a fixed function of the inputs
 * it sees, {@code h = P[q] + Σ_{p <= q} x_p/(1+q−p)}: means {@code 1.5·tanh(M[j]·h)}, log-variances
 * {@code −1 + 0.8·tanh(V[j]·h)}. So a wrong input, a lost or stale KV slot changes the Gaussians, and the cached path
 * equals {@link #head} on the whole prefix bit for bit. Its state is a real per-row list of inputs, appended to by
 * forwards and cut by {@code truncate}. A second toy built with the same {@code seed} and a {@code drift} > 0 shares
 * the embedding table but perturbs the head (a draft that mostly agrees). Every forward is logged (model name, batch,
 * inputs, state length before) into a list that several toys may share, so tests see the order of draft and target
 * forwards.
 */
final class ToyLatentBackend implements ModelBackend, EmbeddingAccess {
    static final Set<Capability> ALL = Set.of(Capability.INPUT_EMBEDS, Capability.EMBEDDING_MATRIX, Capability.BATCH,
            Capability.STATE_TRUNCATE);
    static final int WIDTH = 6;

    /** One forward. */
    record Call(String model, int batch, int inputs, int stateBefore) {
    }

    private final ModelCard card;
    private final float[][] table;
    private final float[][] positional;
    private final float[][] means;
    private final float[][] logVars;
    private final List<Call> log;

    ToyLatentBackend(String name, long seed, double drift, List<Call> log, Capability... without) {
        this(name, seed, drift, log, GaussianHead.OF_LAYOUT, without);
    }

    /** Heads a test may give the toy (a wrong one to test refusals). */
    enum GaussianHead {
        OF_LAYOUT, NONE, VELOCITY, WRONG_BASIS
    }

    ToyLatentBackend(String name, long seed, double drift, List<Call> log, GaussianHead kind, Capability... without) {
        EnumSet<Capability> caps = EnumSet.copyOf(ALL);
        for (Capability c : without) {
            caps.remove(c);
        }
        int dim = ToyLatentCodec.DIM;
        int basis = ToyLatentCodec.LAYOUT.featureBasisToken(0);
        ContinuousHead head = switch (kind) {
            case OF_LAYOUT -> new ContinuousHead(dim, ContinuousHead.Kind.GAUSSIAN, 0, basis, -1, 0);
            case NONE -> null;
            case VELOCITY -> new ContinuousHead(dim, ContinuousHead.Kind.VELOCITY, 0, basis, -1, 0);
            case WRONG_BASIS -> new ContinuousHead(dim, ContinuousHead.Kind.GAUSSIAN, 0, basis - 1, -1, 0);
        };
        this.card = new ModelCard(name, ToyLatentCodec.LAYOUT.vocabSize(), ToyLatentCodec.SIDE * ToyLatentCodec.SIDE,
                WIDTH, OptionalInt.empty(), new int[0], OptionalInt.empty(), OptionalInt.empty(), LogitAlignment.NEXT,
                NativeAttention.CAUSAL, 0, caps).withHeads(1, head);
        SplittableRandom rng = new SplittableRandom(seed);
        this.table = random(rng, card.vocabSize(), 1.0);
        this.positional = random(rng, card.maxPositions(), 1.0);
        this.means = random(rng, dim, 0.7);
        this.logVars = random(rng, dim, 0.7);
        SplittableRandom perturb = new SplittableRandom(seed ^ 0x9E3779B97F4A7C15L);
        for (float[][] m : new float[][][] {means, logVars}) {
            for (float[] row : m) {
                for (int i = 0; i < row.length; i++) {
                    row[i] += (float) (drift * (perturb.nextDouble() * 2 - 1));
                }
            }
        }
        this.log = log;
    }

    private static float[][] random(SplittableRandom rng, int rows, double scale) {
        float[][] m = new float[rows][WIDTH];
        for (float[] row : m) {
            for (int i = 0; i < WIDTH; i++) {
                row[i] = (float) (scale * (rng.nextDouble() * 2 - 1));
            }
        }
        return m;
    }

    /** The pure function: the logits row of the query at position {@code q} of a sequence of input embeddings. */
    float[] head(List<float[]> inputs, int q) {
        double[] h = new double[WIDTH];
        for (int i = 0; i < WIDTH; i++) {
            h[i] = positional[q][i];
        }
        for (int p = 0; p <= q; p++) {
            double w = 1.0 / (1 + q - p);
            for (int i = 0; i < WIDTH; i++) {
                h[i] += w * inputs.get(p)[i];
            }
        }
        float[] out = new float[card.vocabSize()];
        int dim = ToyLatentCodec.DIM;
        for (int j = 0; j < dim; j++) {
            out[j] = (float) (1.5 * Math.tanh(dot(means[j], h)));
            out[dim + j] = (float) (-1 + 0.8 * Math.tanh(dot(logVars[j], h)));
        }
        return out;
    }

    private static double dot(float[] a, double[] h) {
        double s = 0;
        for (int i = 0; i < h.length; i++) {
            s += a[i] * h[i];
        }
        return s / Math.sqrt(h.length);
    }

    @Override
    public float[] embedding(int tokenId) {
        return table[tokenId].clone();
    }

    @Override
    public int embeddingSize() {
        return WIDTH;
    }

    @Override
    public ModelCard card() {
        return card;
    }

    @Override
    public DecodeState newState(int batchSize) {
        if (batchSize > 1 && !card.supports(Capability.BATCH)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " does not support batches");
        }
        return new State(batchSize);
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        if (!(request.attention() instanceof AttentionSpec.Causal)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " serves causal attention only");
        }
        if (request.embeddings() != null && !card.supports(Capability.INPUT_EMBEDS)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " takes no input embeddings");
        }
        if (request.batchSize() > 1 && !card.supports(Capability.BATCH)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " does not support batches");
        }
        if (request.state() == null || !(request.write() instanceof StateWrite.Append)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " appends to a state only");
        }
        State state = (State) request.state();
        int held = state.length();
        int lq = request.queryLength();
        if (held + lq > card.maxPositions()) {
            throw ArborException.invalid(card.name() + "'s context is " + card.maxPositions() + ", asked for "
                    + (held + lq));
        }
        log.add(new Call(card.name(), request.batchSize(), lq, held));
        float[][][] logits = new float[request.batchSize()][lq][];
        for (int b = 0; b < request.batchSize(); b++) {
            List<float[]> row = state.inputs.get(b);
            for (int j = 0; j < lq; j++) {
                float[] x = request.tokens() != null ? table[request.tokens()[b][j]] : request.embeddings()[b][j];
                if (x.length != WIDTH) {
                    throw ArborException.invalid("embedding of width " + x.length + ", expected " + WIDTH);
                }
                row.add(x.clone());
            }
            for (int j = 0; j < lq; j++) {
                logits[b][j] = head(row, held + j);
            }
        }
        return new ForwardResult(logits, null);
    }

    @Override
    public void close() {
    }

    private final class State implements DecodeState {
        private final List<List<float[]>> inputs = new ArrayList<>();

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
            if (!card.supports(Capability.STATE_TRUNCATE)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, card.name() + " does not truncate");
            }
            for (List<float[]> row : inputs) {
                if (newLength > row.size()) {
                    throw new IllegalArgumentException("truncate to " + newLength + " of " + row.size());
                }
                row.subList(newLength, row.size()).clear();
            }
        }

        @Override
        public void close() {
        }
    }
}
