package dev.arbor.generation.cfg;

import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.autoregressive.DecodeChecks;
import java.util.Arrays;

/**
 * The conditional row and, while guidance lasts, the unconditional row of one request, with their KV state(s).
 * {@link #next} returns the next-token logits of both rows (copies the caller may modify); the first call prefills,
 * every later call first feeds the token committed at the previous step to every live row. Once {@code guided} is
 * false the unconditional row is dropped for good (its state closed or its batch row removed), so guidance that ends
 * early (cfg_interval) stops costing compute. Not thread-safe: one request owns it.
 */
abstract class TwinRows implements AutoCloseable {
    protected final ModelBackend model;
    protected final ModelCard card;
    protected final int[] prompt;
    protected final int[] uncond;
    private int forwards;
    private int condForwards;
    private int uncondForwards;
    private long forwardTokens;
    private int sharedPrefix;

    TwinRows(ModelBackend model, int[] prompt, int[] uncond) {
        this.model = model;
        this.card = model.card();
        this.prompt = prompt;
        this.uncond = uncond;
    }

    /** The rows for the settings: a single row when nothing is guided, otherwise the settings' mode. */
    static TwinRows open(ModelBackend model, int[] prompt, CfgSettings settings) {
        if (!settings.guides()) {
            return new Single(model, prompt);
        }
        return settings.mode() == CfgSettings.Mode.FORK ? new Forked(model, prompt, settings.uncond())
                : new Batched(model, prompt, settings.uncond());
    }

    /**
     * Logits for the next token: {@code [0]} conditional, {@code [1]} unconditional or null when {@code guided} is
     * false. {@code last} is the token committed at the previous step (ignored on the first call).
     */
    abstract float[][] next(int last, boolean guided);

    /** Backend forward calls so far (a batch-2 call counts once). */
    final int forwards() {
        return forwards;
    }

    /** Forward calls that computed the conditional row. */
    final int condForwards() {
        return condForwards;
    }

    /** Forward calls that computed the unconditional row. */
    final int uncondForwards() {
        return uncondForwards;
    }

    /** New tokens fed over all forwards, summed over rows (padding included). */
    final long forwardTokens() {
        return forwardTokens;
    }

    /** Tokens of the conditional and unconditional contexts prefilled once for both (fork mode). */
    final int sharedPrefix() {
        return sharedPrefix;
    }

    @Override
    public abstract void close();

    /** Runs {@code request}, counting it as serving the conditional and/or unconditional row. */
    protected final ForwardResult forward(ForwardRequest request, boolean cond, boolean unc) {
        ForwardResult result = model.forward(request);
        forwards++;
        condForwards += cond ? 1 : 0;
        uncondForwards += unc ? 1 : 0;
        forwardTokens += (long) request.batchSize() * request.queryLength();
        return result;
    }

    protected final void sharedPrefix(int tokens) {
        this.sharedPrefix = tokens;
    }

    /** A checked copy of one logit row (processors work in place; a backend may reuse its buffers). */
    protected final float[] copy(float[] logits) {
        return DecodeChecks.checkedCopy(logits, card);
    }

    protected static void closeQuietly(DecodeState state, RuntimeException primary) {
        if (state == null) {
            return;
        }
        try {
            state.close();
        } catch (RuntimeException e) {
            if (primary != null) {
                primary.addSuppressed(e);
            } else {
                throw e;
            }
        }
    }

    /** Plain decoding (guidance_scale 1): one state, one forward per token, exactly the autoregressive loop. */
    static final class Single extends TwinRows {
        private DecodeState state;

        Single(ModelBackend model, int[] prompt) {
            super(model, prompt, null);
        }

        @Override
        float[][] next(int last, boolean guided) {
            ForwardRequest request;
            if (state == null) {
                state = model.newState(1);
                request = ForwardRequest.builder(new int[][] {prompt}).state(state).write(StateWrite.APPEND)
                        .lastRowOnly().build();
            } else {
                request = ForwardRequest.next(new int[][] {{last}}, state);
            }
            return new float[][] {copy(forward(request, true, false).last(0)), null};
        }

        @Override
        public void close() {
            closeQuietly(state, null);
            state = null;
        }
    }

    /**
     * Two single-row states. The longest common prefix of the two contexts is prefilled once; the state is then
     * forked (the unconditional twin) and each context's remainder is prefilled on its own state. A context that is
     * all prefix takes the shared prefill's last logits. Without a common prefix the unconditional row gets a fresh
     * state of its own and no fork happens.
     */
    static final class Forked extends TwinRows {
        private DecodeState condState;
        private DecodeState uncondState;

        Forked(ModelBackend model, int[] prompt, int[] uncond) {
            super(model, prompt, uncond);
        }

        @Override
        float[][] next(int last, boolean guided) {
            if (condState == null) {
                return prefill(guided);
            }
            if (!guided && uncondState != null) {
                uncondState.close();
                uncondState = null;
            }
            float[] cond = copy(forward(ForwardRequest.next(new int[][] {{last}}, condState), true, false).last(0));
            float[] unc = uncondState == null ? null
                    : copy(forward(ForwardRequest.next(new int[][] {{last}}, uncondState), false, true).last(0));
            return new float[][] {cond, unc};
        }

        private float[][] prefill(boolean guided) {
            int shared = 0;
            if (guided) {
                int max = Math.min(prompt.length, uncond.length);
                while (shared < max && prompt[shared] == uncond[shared]) {
                    shared++;
                }
            }
            sharedPrefix(shared);
            condState = model.newState(1);
            float[] sharedLogits = null;
            if (shared > 0) {
                boolean condEnds = shared == prompt.length;
                boolean uncondEnds = shared == uncond.length;
                // the shared prefill builds both rows' caches, so it counts for both
                sharedLogits = forward(prefillRequest(Arrays.copyOf(prompt, shared), condState), true, true).last(0);
                uncondState = condState.fork();
                if (!condEnds && !uncondEnds) {
                    // both remainders are prefilled below; the shared logits served only to fill the cache
                    sharedLogits = null;
                }
            } else if (guided) {
                uncondState = model.newState(1);
            }
            float[] cond = shared == prompt.length ? copy(sharedLogits)
                    : copy(forward(prefillRequest(Arrays.copyOfRange(prompt, shared, prompt.length), condState),
                    true, false).last(0));
            if (!guided) {
                return new float[][] {cond, null};
            }
            float[] unc = shared == uncond.length ? copy(sharedLogits)
                    : copy(forward(prefillRequest(Arrays.copyOfRange(uncond, shared, uncond.length), uncondState),
                    false, true).last(0));
            return new float[][] {cond, unc};
        }

        private static ForwardRequest prefillRequest(int[] tokens, DecodeState state) {
            return ForwardRequest.builder(new int[][] {tokens}).state(state).write(StateWrite.APPEND).lastRowOnly()
                    .build();
        }

        @Override
        public void close() {
            DecodeState c = condState;
            DecodeState u = uncondState;
            condState = null;
            uncondState = null;
            RuntimeException failure = null;
            try {
                closeQuietly(u, null);
            } catch (RuntimeException e) {
                failure = e;
            }
            closeQuietly(c, failure);
            if (failure != null) {
                throw failure;
            }
        }
    }

    /**
     * One state of two rows: row 0 the conditional context, row 1 the unconditional one, the shorter left-padded
     * ({@link AttentionSpec.WithPadding}; positions left null so each row counts its valid tokens). Each guided
     * step feeds the committed token to both rows in one batch-2 forward. When guidance ends, the unconditional
     * row is removed with {@code selectRows} where the backend supports it; otherwise it keeps being fed and its
     * logits are ignored (LlamaGen's behaviour after cfg_interval).
     */
    static final class Batched extends TwinRows {
        private DecodeState state;
        private int rows;

        Batched(ModelBackend model, int[] prompt, int[] uncond) {
            super(model, prompt, uncond);
        }

        @Override
        float[][] next(int last, boolean guided) {
            if (state == null) {
                return prefill(guided);
            }
            if (!guided && rows == 2 && card.supports(Capability.STATE_SELECT_ROWS)) {
                state.selectRows(new int[] {0});
                rows = 1;
            }
            int[][] tokens = new int[rows][];
            for (int b = 0; b < rows; b++) {
                tokens[b] = new int[] {last};
            }
            ForwardResult result = forward(ForwardRequest.next(tokens, state), true, guided);
            return new float[][] {copy(result.last(0)), guided ? copy(result.last(1)) : null};
        }

        private float[][] prefill(boolean guided) {
            if (!guided) {
                rows = 1;
                state = model.newState(1);
                ForwardResult r = forward(ForwardRequest.builder(new int[][] {prompt}).state(state)
                        .write(StateWrite.APPEND).lastRowOnly().build(), true, false);
                return new float[][] {copy(r.last(0)), null};
            }
            rows = 2;
            int n = Math.max(prompt.length, uncond.length);
            int[][] tokens = {leftPad(prompt, n), leftPad(uncond, n)};
            ForwardRequest.Builder builder = ForwardRequest.builder(tokens).write(StateWrite.APPEND).lastRowOnly();
            if (prompt.length != uncond.length) {
                builder.attention(new AttentionSpec.WithPadding(AttentionSpec.CAUSAL,
                        new boolean[][] {valid(prompt.length, n), valid(uncond.length, n)}));
            }
            state = model.newState(2);
            ForwardResult r = forward(builder.state(state).build(), true, true);
            return new float[][] {copy(r.last(0)), copy(r.last(1))};
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
            closeQuietly(state, null);
            state = null;
        }
    }
}
