package dev.arbor.jacobi;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.autoregressive.KvCache;
import java.util.Arrays;

/**
 * The target rows of one Jacobi request and their KV state(s): the conditional row (prompt + accepted tokens) and,
 * under classifier-free guidance, the unconditional row (unconditional context + the same accepted tokens). Every
 * iteration feeds each row the same window {@code [last, d_1..d_n]} (the first iteration feeds each row's whole
 * sequence in front, which doubles as its prefill) and returns the window's logit rows of each row; a rejection rolls
 * every row back to the accepted length. Not thread-safe: one request owns it.
 */
abstract class TargetRows implements AutoCloseable {
    protected final ModelBackend model;
    protected final ModelCard card;
    /** Length of the conditional context (the prompt): a row's slots are its context + generated tokens held. */
    protected final int promptLength;
    private int calls;
    private long forwardTokens;

    TargetRows(ModelBackend model, int promptLength) {
        this.model = model;
        this.card = model.card();
        this.promptLength = promptLength;
    }

    /**
     * The rows for a request: one row when nothing is guided; otherwise one batch-2 state when the backend lists
     * BATCH (and PADDING if the two contexts differ in length) and the cache is on, else two single-row states (or
     * two stateless forwards when {@code useCache} is false).
     */
    static TargetRows open(ModelBackend model, int[] prompt, int[] uncond, boolean useCache) {
        if (uncond == null) {
            return new Separate(model, prompt.length, new Row(model, prompt.length, useCache), null);
        }
        ModelCard card = model.card();
        boolean batch = useCache && card.supports(Capability.BATCH)
                && (prompt.length == uncond.length || card.supports(Capability.PADDING));
        if (batch) {
            return new Batched(model, prompt.length, uncond.length);
        }
        return new Separate(model, prompt.length, new Row(model, prompt.length, useCache),
                new Row(model, uncond.length, useCache));
    }

    /**
     * Forwards one window. {@code cond} is the conditional row's whole sequence (prompt + accepted), {@code uncond}
     * the unconditional row's (null when unguided), {@code drafts} the {@code window - 1} drafts. Returns
     * {@code [row][j]}: row 0 conditional, row 1 unconditional (absent when unguided); entry j predicts the token
     * after window input j. The arrays may be the backend's: copy before changing them.
     */
    abstract float[][][] forward(int[] cond, int[] uncond, int[] drafts, int window);

    /** Rollback after an iteration: every row keeps its context and the first {@code generated} accepted tokens. */
    abstract void rollback(int generated);

    /**
     * {@code none} (one row), {@code batch} (one batch-2 state) or {@code two_states} (two states, or two stateless
     * forwards), the raster-ar generator's names.
     */
    abstract String mode();

    /** Closes every state, also when a forward failed. */
    @Override
    public abstract void close();

    /** Backend forward calls so far (a batch-2 call counts once). */
    final int calls() {
        return calls;
    }

    /** Tokens fed over all calls, summed over rows (padding included). */
    final long forwardTokens() {
        return forwardTokens;
    }

    protected final void count(int tokens) {
        calls++;
        forwardTokens += tokens;
    }

    protected final float[][] rows(ForwardResult result, int b, int window) {
        if (result.logits() == null || result.logits().length <= b || result.logits()[b].length != window) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                    + (result.logits() == null || result.logits().length <= b ? "no" : result.logits()[b].length)
                    + " logit rows for a request of " + window + (b > 0 ? " in batch row " + b : ""));
        }
        return result.logits()[b];
    }

    /**
     * One single-row sequence: with the cache, a {@link KvCache} that is prefilled by the first window and then fed
     * {@code [last, drafts]}; without, a stateless forward of the whole sequence plus drafts every iteration (the
     * reference path).
     */
    static final class Row implements AutoCloseable {
        private final ModelBackend model;
        private final int contextLength;
        private final boolean useCache;
        /** Opened by the first window, so a request that fails before it holds no state. */
        private KvCache cache;
        private boolean prefilled;

        Row(ModelBackend model, int contextLength, boolean useCache) {
            this.model = model;
            this.contextLength = contextLength;
            this.useCache = useCache;
        }

        /** Forwards {@code sequence}'s window; returns the result and adds the tokens fed to {@code fed[0]}. */
        ForwardResult forward(int[] sequence, int[] drafts, int window, int[] fed) {
            int n = window - 1;
            ForwardResult result;
            int[] input;
            if (useCache && cache == null) {
                cache = new KvCache(model);
            }
            if (cache == null || !prefilled) {
                input = Arrays.copyOf(sequence, sequence.length + n);
                System.arraycopy(drafts, 0, input, sequence.length, n);
                int[] rows = new int[window];
                for (int j = 0; j < window; j++) {
                    rows[j] = sequence.length - 1 + j;
                }
                result = cache != null ? cache.append(input, rows) : model.forward(
                        ForwardRequest.builder(new int[][] {input}).logitRows(new int[][] {rows}).build());
            } else {
                input = new int[window];
                input[0] = sequence[sequence.length - 1];
                System.arraycopy(drafts, 0, input, 1, n);
                result = cache.append(input, null);
            }
            prefilled = true;
            fed[0] += input.length;
            return result;
        }

        void rollback(int generated) {
            if (cache != null) {
                cache.rollback(contextLength + generated);
            }
        }

        @Override
        public void close() {
            if (cache != null) {
                cache.close();
            }
        }
    }

    /** One row, or two rows on two single-row states (or stateless forwards): two backend calls per iteration. */
    static final class Separate extends TargetRows {
        private final Row cond;
        private final Row uncond;

        Separate(ModelBackend model, int promptLength, Row cond, Row uncond) {
            super(model, promptLength);
            this.cond = cond;
            this.uncond = uncond;
        }

        @Override
        float[][][] forward(int[] condSequence, int[] uncondSequence, int[] drafts, int window) {
            int[] fed = new int[1];
            ForwardResult c = cond.forward(condSequence, drafts, window, fed);
            count(fed[0]);
            if (uncond == null) {
                return new float[][][] {rows(c, 0, window)};
            }
            fed[0] = 0;
            ForwardResult u = uncond.forward(uncondSequence, drafts, window, fed);
            count(fed[0]);
            return new float[][][] {rows(c, 0, window), rows(u, 0, window)};
        }

        @Override
        void rollback(int generated) {
            cond.rollback(generated);
            if (uncond != null) {
                uncond.rollback(generated);
            }
        }

        @Override
        String mode() {
            return uncond == null ? "none" : "two_states";
        }

        @Override
        public void close() {
            RuntimeException failure = null;
            try {
                if (uncond != null) {
                    uncond.close();
                }
            } catch (RuntimeException e) {
                failure = e;
            }
            try {
                cond.close();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
            if (failure != null) {
                throw failure;
            }
        }
    }

    /**
     * One state of two rows, row 0 conditional and row 1 unconditional, the shorter context left-padded on the first
     * window ({@link AttentionSpec.WithPadding}); each iteration is one batch-2 forward. Both rows hold the same
     * accepted tokens after the padded contexts, so one truncate rolls both back.
     */
    static final class Batched extends TargetRows {
        private final int width;
        private DecodeState state;

        Batched(ModelBackend model, int promptLength, int uncondLength) {
            super(model, promptLength);
            this.width = Math.max(promptLength, uncondLength);
        }

        @Override
        float[][][] forward(int[] condSequence, int[] uncondSequence, int[] drafts, int window) {
            int n = window - 1;
            ForwardResult result;
            if (state == null) {
                int[] c = Arrays.copyOf(condSequence, condSequence.length + n);
                System.arraycopy(drafts, 0, c, condSequence.length, n);
                int[] u = Arrays.copyOf(uncondSequence, uncondSequence.length + n);
                System.arraycopy(drafts, 0, u, uncondSequence.length, n);
                int length = Math.max(c.length, u.length);
                int[] rows = new int[window];
                for (int j = 0; j < window; j++) {
                    rows[j] = length - window + j;
                }
                ForwardRequest.Builder builder = ForwardRequest.builder(new int[][] {leftPad(c, length),
                        leftPad(u, length)}).write(StateWrite.APPEND).logitRows(new int[][] {rows, rows});
                if (c.length != u.length) {
                    builder.attention(new AttentionSpec.WithPadding(AttentionSpec.CAUSAL,
                            new boolean[][] {valid(c.length, length), valid(u.length, length)}));
                }
                state = model.newState(2);
                result = model.forward(builder.state(state).build());
                count(2 * length);
            } else {
                int[] input = new int[window];
                input[0] = condSequence[condSequence.length - 1];
                System.arraycopy(drafts, 0, input, 1, n);
                result = model.forward(ForwardRequest.builder(new int[][] {input, input.clone()}).state(state)
                        .write(StateWrite.APPEND).build());
                count(2 * window);
            }
            return new float[][][] {rows(result, 0, window), rows(result, 1, window)};
        }

        @Override
        void rollback(int generated) {
            int keep = width + generated;
            if (state != null && state.length() > keep) {
                state.truncate(keep);
            }
        }

        @Override
        String mode() {
            return "batch";
        }

        /** {@code row} right-aligned in {@code n} slots; padding repeats the row's first id (it is never seen). */
        private static int[] leftPad(int[] row, int n) {
            int[] out = new int[n];
            Arrays.fill(out, 0, n - row.length, row[0]);
            System.arraycopy(row, 0, out, n - row.length, row.length);
            return out;
        }

        private static boolean[] valid(int length, int n) {
            boolean[] v = new boolean[n];
            Arrays.fill(v, n - length, n, true);
            return v;
        }

        @Override
        public void close() {
            if (state != null) {
                state.close();
                state = null;
            }
        }
    }
}
