package dev.arbor.imagegen;

import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.autoregressive.DecodeChecks;
import java.util.Locale;

/**
 * The conditional row ({@code [class]} + the codes so far) and, when guidance is on, the unconditional row
 * ({@code [null class]} + the same codes) of one raster image, with their KV state(s). {@link #next} returns both
 * rows' next-token logits (checked copies the caller may modify); the first call prefills the one-token prompts,
 * every later call first feeds the code committed at the previous step to every row. Both prompts are one token
 * long, so the batch needs no padding. Raster AR and the VF-prompt wrapper (whose VF tokens are just earlier steps)
 * share it. Not thread-safe: one request owns it.
 */
public final class GuidedRows implements AutoCloseable {

    /** How the rows are computed. */
    public enum Mode {
        /** No guidance: the conditional row alone, one forward per token (plain decoding). */
        NONE,
        /** One state of two rows, one batch-2 forward per token (the backend lists BATCH). */
        BATCH,
        /** Two single-row states, two forwards per token (backends without BATCH). */
        TWO_STATES;

        public String wireName() {
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

    public GuidedRows(ModelBackend model, Mode mode, int condToken, int uncondToken) {
        this.model = model;
        this.card = model.card();
        this.mode = mode;
        this.condToken = condToken;
        this.uncondToken = uncondToken;
    }

    public Mode mode() {
        return mode;
    }

    /** Backend forward calls so far (a batch-2 call counts once). */
    public int forwards() {
        return forwards;
    }

    /**
     * Logits for the next code: {@code [0]} conditional, {@code [1]} unconditional (null in mode NONE).
     * {@code last} is the code committed at the previous step (ignored on the first call).
     */
    public float[][] next(int last) {
        boolean first = cond == null;
        switch (mode) {
            case BATCH -> {
                if (first) {
                    cond = model.newState(2);
                }
                int[][] tokens = first ? new int[][] {{condToken}, {uncondToken}} : new int[][] {{last}, {last}};
                ForwardResult r = forward(tokens, cond);
                return new float[][] {copy(r.last(0)), copy(r.last(1))};
            }
            case TWO_STATES -> {
                if (first) {
                    cond = model.newState(1);
                    uncond = model.newState(1);
                }
                float[] c = copy(forward(new int[][] {{first ? condToken : last}}, cond).last(0));
                float[] u = copy(forward(new int[][] {{first ? uncondToken : last}}, uncond).last(0));
                return new float[][] {c, u};
            }
            default -> {
                if (first) {
                    cond = model.newState(1);
                }
                return new float[][] {copy(forward(new int[][] {{first ? condToken : last}}, cond).last(0)), null};
            }
        }
    }

    private ForwardResult forward(int[][] tokens, DecodeState state) {
        ForwardResult result = model.forward(ForwardRequest.next(tokens, state));
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
