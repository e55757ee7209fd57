package dev.arbor.testkit;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Base of the pure-Java test backends whose next-token logits are a function of the visible token history alone.
 *
 * <p>The {@link DecodeState} is a real per-row list of slots (token id plus a validity bit for left padding), so
 * every state operation ({@code truncate}, {@code compact}, {@code fork}, {@code selectRows}) changes what later
 * forwards see exactly as a KV cache would: a generator that forgets to append, reorders beams wrongly or truncates
 * to the wrong length gets different logits. Because the logits depend only on the visible tokens, a cached path
 * and the stateless reference path ({@code state == null}) give bit-identical logits, which makes cache/recompute
 * comparisons exact rather than approximate.
 *
 * <p>Semantics of {@link #forward}: query {@code j} of row {@code b} sees the valid state slots of row {@code b}
 * followed by the valid new tokens {@code 0..j} (causal attention; padding is never visible). The history handed to
 * {@link #nextTokenLogits} is exactly that sequence of visible token ids. A padding query gets all-zero logits: its
 * output is meaningless and callers must not read it. Position ids ({@link ForwardRequest#positions()}) are ignored,
 * since the functions depend on token order only; position-id bugs are therefore not caught by these backends (that
 * is the tiny transformer's job, DESIGN.md §5).
 *
 * <p>Instrumentation: every forward is recorded as a {@link ForwardCall}, and open states are counted, so tests can
 * assert that a generator used the cache (one single-token call per step after the prefill) and closed its state.
 *
 * <p>Thread-safe: concurrent forwards with distinct states are fine (the state itself is single-owner).
 */
public abstract class TokenHistoryBackend implements ModelBackend {

    /**
     * One recorded forward call.
     *
     * @param batchSize         rows in the request
     * @param queryLength       new tokens per row
     * @param stateLengthBefore slots held by the state before the call (0 when stateless)
     * @param stateless         true when the request had no state (the reference path)
     * @param logitRows         total logit rows returned over the batch
     */
    public record ForwardCall(int batchSize, int queryLength, int stateLengthBefore, boolean stateless,
                              int logitRows) {
    }

    // Not a CopyOnWriteArrayList: statistical tests make 10^5 calls, and copying on every add is quadratic.
    private final List<ForwardCall> calls = Collections.synchronizedList(new ArrayList<>());
    private final AtomicInteger openStates = new AtomicInteger();
    private volatile boolean closed;

    protected TokenHistoryBackend() {
    }

    /**
     * The next-token logits after {@code history[0..length)}; {@code length >= 1}. Must not modify or keep
     * {@code history}, and must return a fresh array of {@link ModelCard#vocabSize()} entries.
     */
    protected abstract float[] nextTokenLogits(int[] history, int length);

    /**
     * Why this backend cannot serve {@code base} (never a {@link AttentionSpec.WithPadding}), or null when it can.
     * The default serves causal attention only.
     */
    protected String attentionRefusal(AttentionSpec base) {
        return base instanceof AttentionSpec.Causal ? null
                : describe() + " serves causal attention only; " + base.getClass().getSimpleName()
                + " attention is not implemented by this test backend";
    }

    /** Class name and model name, for messages. */
    protected final String describe() {
        return getClass().getSimpleName() + " '" + card().name() + "'";
    }

    /** Forward calls made so far. */
    public int forwardCalls() {
        return calls.size();
    }

    /** Every forward call so far, oldest first. */
    public List<ForwardCall> calls() {
        synchronized (calls) {
            return List.copyOf(calls);
        }
    }

    /** Total new tokens fed over all forward calls (rows times query length, padding included). */
    public long queryTokens() {
        synchronized (calls) {
            return calls.stream().mapToLong(c -> (long) c.batchSize() * c.queryLength()).sum();
        }
    }

    /** States created (by {@link #newState} or {@code fork}) and not yet closed. */
    public int openStates() {
        return openStates.get();
    }

    /** Forgets recorded calls (open-state counting continues). */
    public void resetCounters() {
        calls.clear();
    }

    @Override
    public DecodeState newState(int batchSize) {
        ensureOpen();
        if (batchSize < 1) {
            throw ArborException.invalid(describe() + ": a state needs at least one row, got " + batchSize);
        }
        if (batchSize > 1) {
            requireCapability(Capability.BATCH, "states of more than one row");
        }
        return new TokenState(this, new int[batchSize][16], new boolean[batchSize][16], 0);
    }

    @Override
    public final ForwardResult forward(ForwardRequest request) {
        ensureOpen();
        ModelCard card = card();
        if (request.tokens() == null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, describe()
                    + " takes token ids only; it has no embedding table for ForwardRequest.embeddings");
        }
        AttentionSpec spec = request.attention();
        String refusal = attentionRefusal(spec.base());
        if (refusal != null) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, refusal);
        }
        int[][] tokens = request.tokens();
        int batch = tokens.length;
        if (batch == 0) {
            throw ArborException.invalid(describe() + ": a forward request needs at least one row");
        }
        if (batch > 1) {
            requireCapability(Capability.BATCH, "batches of more than one row");
        }
        int lq = tokens[0].length;
        for (int b = 0; b < batch; b++) {
            if (tokens[b].length != lq) {
                throw ArborException.invalid(describe() + ": row " + b + " has " + tokens[b].length
                        + " new tokens but row 0 has " + lq + "; left-pad rows to one length");
            }
            for (int t : tokens[b]) {
                if (t < 0 || t >= card.vocabSize()) {
                    throw ArborException.invalid(describe() + ": token id " + t + " in row " + b
                            + " is outside the vocabulary [0, " + card.vocabSize() + ")");
                }
            }
        }
        boolean[][] valid = null;
        if (spec instanceof AttentionSpec.WithPadding padding) {
            requireCapability(Capability.PADDING, "left padding (AttentionSpec.WithPadding)");
            valid = padding.newTokenValid();
            if (valid.length != batch) {
                throw ArborException.invalid(describe() + ": newTokenValid has " + valid.length
                        + " rows but the request has " + batch);
            }
            for (int b = 0; b < batch; b++) {
                if (valid[b].length != lq) {
                    throw ArborException.invalid(describe() + ": newTokenValid row " + b + " has "
                            + valid[b].length + " entries but the request has " + lq + " new tokens");
                }
            }
        }
        TokenState state = null;
        if (request.state() != null) {
            if (!(request.state() instanceof TokenState own) || own.owner != this) {
                throw ArborException.invalid(describe() + " was given a state it did not create");
            }
            state = own;
            state.ensureOpen();
            if (state.rows() != batch) {
                throw ArborException.invalid(describe() + ": the state has " + state.rows()
                        + " rows but the request has " + batch);
            }
            if (request.write() instanceof StateWrite.At) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, describe()
                        + " does not support StateWrite.At (Capability.STATE_WRITE_AT); use APPEND or NONE");
            }
        }
        int stateLength = state == null ? 0 : state.length;
        if (stateLength + lq > card.maxPositions()) {
            throw ArborException.invalid(describe() + " has a context of " + card.maxPositions()
                    + " positions, but the state holds " + stateLength + " slots and the request adds " + lq);
        }
        int[][] logitRows = request.logitRows();
        if (logitRows != null && logitRows.length != batch) {
            throw ArborException.invalid(describe() + ": logitRows has " + logitRows.length
                    + " rows but the request has " + batch);
        }

        float[][][] logits = new float[batch][][];
        int[] history = new int[stateLength + lq];
        int[] visibleAfter = new int[lq];
        for (int b = 0; b < batch; b++) {
            int n = 0;
            for (int s = 0; s < stateLength; s++) {
                if (state.valid[b][s]) {
                    history[n++] = state.tokens[b][s];
                }
            }
            for (int j = 0; j < lq; j++) {
                if (valid == null || valid[b][j]) {
                    history[n++] = tokens[b][j];
                }
                visibleAfter[j] = n;
            }
            int[] rows = logitRows == null ? allRows(lq) : logitRows[b];
            logits[b] = new float[rows.length][];
            for (int k = 0; k < rows.length; k++) {
                int j = rows[k];
                if (j < 0 || j >= lq) {
                    throw ArborException.invalid(describe() + ": logit row " + j + " of batch item " + b
                            + " is outside the " + lq + " new tokens");
                }
                boolean queryValid = valid == null || valid[b][j];
                logits[b][k] = queryValid ? nextTokenLogits(history, visibleAfter[j]) : new float[card.vocabSize()];
            }
        }
        if (state != null && request.write() instanceof StateWrite.Append) {
            state.append(tokens, valid);
        }
        int rowsReturned = 0;
        for (float[][] r : logits) {
            rowsReturned += r.length;
        }
        calls.add(new ForwardCall(batch, lq, stateLength, state == null, rowsReturned));
        return new ForwardResult(logits, null);
    }

    @Override
    public void close() {
        closed = true;
    }

    /** True once {@link #close} was called. */
    public boolean isClosed() {
        return closed;
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(getClass().getSimpleName() + " was closed; open a new one");
        }
    }

    final void requireCapability(Capability capability, String what) {
        if (!card().supports(capability)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, describe() + " was built without "
                    + capability + ", so it refuses " + what);
        }
    }

    private static int[] allRows(int lq) {
        int[] rows = new int[lq];
        for (int i = 0; i < lq; i++) {
            rows[i] = i;
        }
        return rows;
    }

    /**
     * The state: per row, a list of slots holding a token id and whether it is real (false = left padding). All
     * rows have the same number of slots, as in a padded KV cache. Operations the owning backend's card does not list
     * throw {@link ArborException} of kind INCOMPATIBLE naming the operation.
     */
    public static final class TokenState implements DecodeState {
        private final TokenHistoryBackend owner;
        private int[][] tokens;
        private boolean[][] valid;
        private int length;
        private boolean closed;

        private TokenState(TokenHistoryBackend owner, int[][] tokens, boolean[][] valid, int length) {
            this.owner = owner;
            this.tokens = tokens;
            this.valid = valid;
            this.length = length;
            owner.openStates.incrementAndGet();
        }

        @Override
        public int batchSize() {
            ensureOpen();
            return tokens.length;
        }

        @Override
        public int length() {
            ensureOpen();
            return length;
        }

        /** The token ids of every slot of {@code row} (padding slots included), for test assertions. */
        public int[] slots(int row) {
            ensureOpen();
            return Arrays.copyOf(tokens[row], length);
        }

        /** The ids of the valid (non-padding) slots of {@code row}: what the row's next query sees. */
        public int[] visibleTokens(int row) {
            ensureOpen();
            int[] out = new int[length];
            int n = 0;
            for (int s = 0; s < length; s++) {
                if (valid[row][s]) {
                    out[n++] = tokens[row][s];
                }
            }
            return Arrays.copyOf(out, n);
        }

        @Override
        public void truncate(int newLength) {
            ensureOpen();
            owner.requireCapability(Capability.STATE_TRUNCATE, "DecodeState.truncate");
            if (newLength < 0 || newLength > length) {
                throw ArborException.invalid("cannot truncate a state of " + length + " slots to " + newLength);
            }
            length = newLength;
        }

        @Override
        public void compact(int[] keepSlots) {
            ensureOpen();
            owner.requireCapability(Capability.STATE_COMPACT, "DecodeState.compact");
            for (int i = 0; i < keepSlots.length; i++) {
                if (keepSlots[i] < 0 || keepSlots[i] >= length || (i > 0 && keepSlots[i] <= keepSlots[i - 1])) {
                    throw ArborException.invalid("compact needs strictly ascending slots within [0, " + length
                            + "), got " + Arrays.toString(keepSlots));
                }
            }
            for (int b = 0; b < tokens.length; b++) {
                for (int i = 0; i < keepSlots.length; i++) {
                    tokens[b][i] = tokens[b][keepSlots[i]];
                    valid[b][i] = valid[b][keepSlots[i]];
                }
            }
            length = keepSlots.length;
        }

        @Override
        public DecodeState fork() {
            ensureOpen();
            owner.requireCapability(Capability.STATE_FORK, "DecodeState.fork");
            int[][] t = new int[tokens.length][];
            boolean[][] v = new boolean[tokens.length][];
            for (int b = 0; b < tokens.length; b++) {
                t[b] = tokens[b].clone();
                v[b] = valid[b].clone();
            }
            return new TokenState(owner, t, v, length);
        }

        @Override
        public void selectRows(int[] sourceRows) {
            ensureOpen();
            owner.requireCapability(Capability.STATE_SELECT_ROWS, "DecodeState.selectRows");
            if (sourceRows.length > 1) {
                owner.requireCapability(Capability.BATCH, "a state of more than one row");
            }
            int[][] t = new int[sourceRows.length][];
            boolean[][] v = new boolean[sourceRows.length][];
            for (int i = 0; i < sourceRows.length; i++) {
                int src = sourceRows[i];
                if (src < 0 || src >= tokens.length) {
                    throw ArborException.invalid("selectRows: source row " + src + " is outside the state's "
                            + tokens.length + " rows");
                }
                t[i] = tokens[src].clone();
                v[i] = valid[src].clone();
            }
            tokens = t;
            valid = v;
        }

        @Override
        public void close() {
            if (!closed) {
                closed = true;
                owner.openStates.decrementAndGet();
            }
        }

        /** True once closed. */
        public boolean isClosed() {
            return closed;
        }

        int rows() {
            return tokens.length;
        }

        void append(int[][] newTokens, boolean[][] newValid) {
            int lq = newTokens[0].length;
            int needed = length + lq;
            for (int b = 0; b < tokens.length; b++) {
                if (tokens[b].length < needed) {
                    int capacity = Math.max(needed, tokens[b].length * 2);
                    tokens[b] = Arrays.copyOf(tokens[b], capacity);
                    valid[b] = Arrays.copyOf(valid[b], capacity);
                }
                for (int j = 0; j < lq; j++) {
                    tokens[b][length + j] = newTokens[b][j];
                    valid[b][length + j] = newValid == null || newValid[b][j];
                }
            }
            length = needed;
        }

        void ensureOpen() {
            if (closed) {
                throw new IllegalStateException("this DecodeState was closed; it cannot be used again");
            }
        }
    }
}
