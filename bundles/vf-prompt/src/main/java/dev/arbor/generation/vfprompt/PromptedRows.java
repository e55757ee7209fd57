package dev.arbor.generation.vfprompt;

import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.autoregressive.DecodeChecks;
import java.util.Locale;

/**
 * The conditional row ({@code [class]} + the tokens so far) and, when guidance is on, the unconditional row
 * ({@code [null class]} + the same tokens) of one VF-prompted image, with their KV state(s). {@link #next} returns
 * both rows' next-token logits (checked copies the caller may modify); the first call prefills the one-token
 * prompts, every later call first feeds the token committed at the previous step (a VF token or a code) to every
 * row, so both rows carry the same VF prompt. One forward per token (a batch-2 forward counts once). Not
 * thread-safe: one request owns it.
 */
final class PromptedRows implements AutoCloseable {

    /** How the rows are computed. */
    enum Mode {
        /** No guidance: the conditional row alone. */
        NONE,
        /** One state of two rows, one batch-2 forward per token (the backend lists BATCH). */
        BATCH,
        /** Two single-row states, two forwards per token (backends without BATCH). */
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

    PromptedRows(ModelBackend model, Mode mode, int condToken, int uncondToken) {
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
     * Logits for the next token: {@code [0]} conditional, {@code [1]} unconditional (null in mode NONE).
     * {@code last} is the token committed at the previous step (ignored on the first call).
     */
    float[][] next(int last) {
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
