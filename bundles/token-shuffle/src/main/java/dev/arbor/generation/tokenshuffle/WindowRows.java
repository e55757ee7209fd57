package dev.arbor.generation.tokenshuffle;

import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.autoregressive.DecodeChecks;
import java.util.Locale;

/**
 * The conditional row ({@code [class]} + the merged windows so far) and, when guidance is on, the unconditional row
 * ({@code [null class]} + the same windows) of one Token-Shuffle image, with their KV state(s). The first
 * {@link #next} prefills the one-token class prompts as token ids; every later call appends the merged embedding of
 * the window committed at the previous step to every row. Returns both rows' last logits (checked copies, the full
 * s²-head row). Not thread-safe: one request owns it.
 */
final class WindowRows implements AutoCloseable {

    /** How the rows are computed. */
    enum Mode {
        /** No guidance: the conditional row alone, one forward per window. */
        NONE,
        /** One state of two rows, one batch-2 forward per window (the backend lists BATCH). */
        BATCH,
        /** Two single-row states, two forwards per window (backends without BATCH). */
        TWO_STATES;

        String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final ModelBackend model;
    private final ModelCard card;
    private final Mode mode;
    private final int condToken;
    private final int uncondToken;
    private DecodeState cond;
    private DecodeState uncond;
    private int forwards;

    WindowRows(ModelBackend model, Mode mode, int condToken, int uncondToken) {
        this.model = model;
        this.card = model.card();
        this.mode = mode;
        this.condToken = condToken;
        this.uncondToken = uncondToken;
    }

    /** Backend forward calls so far (a batch-2 call counts once). */
    int forwards() {
        return forwards;
    }

    /**
     * Logits predicting the next window: {@code [0]} conditional, {@code [1]} unconditional (null in mode NONE).
     * {@code merged} is the input embedding of the previous window (null, and ignored, on the first call).
     */
    float[][] next(float[] merged) {
        boolean first = cond == null;
        switch (mode) {
            case BATCH -> {
                if (first) {
                    cond = model.newState(2);
                }
                ForwardResult r = first ? forward(new int[][] {{condToken}, {uncondToken}}, null, cond)
                        : forward(null, new float[][][] {{merged}, {merged}}, cond);
                return new float[][] {copy(r.last(0)), copy(r.last(1))};
            }
            case TWO_STATES -> {
                if (first) {
                    cond = model.newState(1);
                    uncond = model.newState(1);
                }
                float[][][] x = first ? null : new float[][][] {{merged}};
                float[] c = copy(forward(first ? new int[][] {{condToken}} : null, x, cond).last(0));
                float[] u = copy(forward(first ? new int[][] {{uncondToken}} : null, x, uncond).last(0));
                return new float[][] {c, u};
            }
            default -> {
                if (first) {
                    cond = model.newState(1);
                }
                ForwardResult r = first ? forward(new int[][] {{condToken}}, null, cond)
                        : forward(null, new float[][][] {{merged}}, cond);
                return new float[][] {copy(r.last(0)), null};
            }
        }
    }

    private ForwardResult forward(int[][] tokens, float[][][] embeddings, DecodeState state) {
        ForwardRequest.Builder b = tokens != null ? ForwardRequest.builder(tokens)
                : ForwardRequest.builderForEmbeddings(embeddings);
        ForwardResult result = model.forward(b.state(state).lastRowOnly().build());
        forwards++;
        return result;
    }

    private float[] copy(float[] logits) {
        return DecodeChecks.checkedCopy(logits, card);
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
