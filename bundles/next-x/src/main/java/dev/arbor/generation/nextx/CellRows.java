package dev.arbor.generation.nextx;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import java.util.Locale;

/**
 * The conditional row and, when guidance is on, the unconditional (null-class) row of one next-X image over a
 * continuous-latent prior, with their KV state(s) holding the clean context: {@link #open} appends the class token,
 * {@link #velocity} evaluates a cell's noisy tokens at a time t on top of the cached context without writing the
 * state ({@link StateWrite#NONE}: the state is as before after every evaluation), {@link #commit} appends the
 * finished (clean, t = 1) cell. Inputs are {@link ContinuousHead.Embedder} embeddings, identical in both rows (xAR
 * doubles the noisy tokens); the mask is {@link CellSegments}. Not thread-safe: one request owns it.
 */
final class CellRows implements AutoCloseable {

    /** How the rows are computed. */
    enum Mode {
        /** No guidance: the conditional row alone. */
        NONE,
        /** One state of two rows, one batch-2 forward per evaluation (the backend lists BATCH). */
        BATCH,
        /** Two single-row states, two forwards per evaluation (backends without BATCH). */
        TWO_STATES;

        String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final ModelBackend model;
    private final ModelCard card;
    private final Cells cells;
    private final ContinuousHead head;
    private final ContinuousHead.Embedder embedder;
    private final Mode mode;
    private final int condToken;
    private final int uncondToken;
    private DecodeState cond;
    private DecodeState uncond;
    private int forwards;
    private int committed = -1;

    CellRows(ModelBackend model, Cells cells, ContinuousHead head, ContinuousHead.Embedder embedder, Mode mode,
             int condToken, int uncondToken) {
        this.model = model;
        this.card = model.card();
        this.cells = cells;
        this.head = head;
        this.embedder = embedder;
        this.mode = mode;
        this.condToken = condToken;
        this.uncondToken = uncondToken;
    }

    /** Backend forward calls so far (a batch-2 call counts once). */
    int forwards() {
        return forwards;
    }

    /** Opens the state(s) and appends the class token (the null class in the unconditional row). */
    void open() {
        if (cond != null) {
            throw new IllegalStateException("the class token is appended once per image");
        }
        cond = model.newState(mode == Mode.BATCH ? 2 : 1);
        if (mode == Mode.TWO_STATES) {
            uncond = model.newState(1);
        }
        switch (mode) {
            case BATCH -> run(ForwardRequest.builder(new int[][] {{condToken}, {uncondToken}}), -1, 2, cond,
                    StateWrite.APPEND);
            case TWO_STATES -> {
                run(ForwardRequest.builder(new int[][] {{condToken}}), -1, 1, cond, StateWrite.APPEND);
                run(ForwardRequest.builder(new int[][] {{uncondToken}}), -1, 1, uncond, StateWrite.APPEND);
            }
            default -> run(ForwardRequest.builder(new int[][] {{condToken}}), -1, 1, cond, StateWrite.APPEND);
        }
    }

    /**
     * The velocities {@code [row][token][D]} of cell {@code k}'s tokens {@code x} at time {@code t}: {@code [0]}
     * conditional, {@code [1]} unconditional (null in mode NONE). Cells 0..k−1 must be committed.
     */
    float[][][] velocity(int k, float[][] x, double t) {
        checkNext(k);
        float[][] in = embed(x, t);
        return switch (mode) {
            case BATCH -> {
                ForwardResult r = run(ForwardRequest.builderForEmbeddings(new float[][][] {in, in}), k, 2, cond,
                        StateWrite.NONE);
                yield new float[][][] {read(r, 0, x.length), read(r, 1, x.length)};
            }
            case TWO_STATES -> new float[][][] {
                    read(run(ForwardRequest.builderForEmbeddings(new float[][][] {in}), k, 1, cond, StateWrite.NONE),
                            0, x.length),
                    read(run(ForwardRequest.builderForEmbeddings(new float[][][] {in}), k, 1, uncond,
                            StateWrite.NONE), 0, x.length)};
            default -> new float[][][] {read(run(ForwardRequest.builderForEmbeddings(new float[][][] {in}), k, 1,
                    cond, StateWrite.NONE), 0, x.length), null};
        };
    }

    /** Appends the finished cell {@code k} (its clean latents, at t = 1) to the context of both rows. */
    void commit(int k, float[][] clean) {
        checkNext(k);
        float[][] in = embed(clean, 1.0);
        switch (mode) {
            case BATCH -> run(ForwardRequest.builderForEmbeddings(new float[][][] {in, in}), k, 2, cond,
                    StateWrite.APPEND);
            case TWO_STATES -> {
                run(ForwardRequest.builderForEmbeddings(new float[][][] {in}), k, 1, cond, StateWrite.APPEND);
                run(ForwardRequest.builderForEmbeddings(new float[][][] {in}), k, 1, uncond, StateWrite.APPEND);
            }
            default -> run(ForwardRequest.builderForEmbeddings(new float[][][] {in}), k, 1, cond,
                    StateWrite.APPEND);
        }
        committed = k;
    }

    private void checkNext(int k) {
        if (cond == null || k != committed + 1 || k >= cells.count()) {
            throw new IllegalStateException("cell " + k + " out of order: the class token and cells 0.."
                    + committed + " are in the context");
        }
    }

    private float[][] embed(float[][] x, double t) {
        float[][] in = new float[x.length][];
        for (int i = 0; i < x.length; i++) {
            in[i] = new float[embedder.width()];
            embedder.add(x[i], t, in[i]);
        }
        return in;
    }

    private ForwardResult run(ForwardRequest.Builder builder, int k, int batch, DecodeState state, StateWrite write) {
        AttentionSpec attention = CellSegments.forCell(cells, k, batch);
        ForwardResult result = model.forward(builder.attention(attention).state(state).write(write).build());
        forwards++;
        return result;
    }

    /** The head's columns of the {@code tokens} rows of batch row {@code b}, checked finite. */
    private float[][] read(ForwardResult result, int b, int tokens) {
        float[][] rows = result.logits() == null || result.logits().length <= b ? null : result.logits()[b];
        if (rows == null || rows.length != tokens) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                    + (rows == null ? "no" : rows.length) + " logit rows for a cell of " + tokens + " tokens");
        }
        float[][] v = new float[tokens][];
        for (int i = 0; i < tokens; i++) {
            if (rows[i] == null || rows[i].length < head.outputOffset() + head.width()) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned a logit row of "
                        + (rows[i] == null ? 0 : rows[i].length) + " values; its continuous head reads columns up to "
                        + (head.outputOffset() + head.width() - 1));
            }
            v[i] = head.read(rows[i], new float[head.width()]);
            for (float f : v[i]) {
                if (!Float.isFinite(f)) {
                    throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned a "
                            + "non-finite velocity (" + f + "); the model or backend is broken");
                }
            }
        }
        return v;
    }

    @Override
    public void close() {
        DecodeState c = cond;
        DecodeState u = uncond;
        cond = null;
        uncond = null;
        try {
            if (u != null) {
                u.close();
            }
        } finally {
            if (c != null) {
                c.close();
            }
        }
    }
}
