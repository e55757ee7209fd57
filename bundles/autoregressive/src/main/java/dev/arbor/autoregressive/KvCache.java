package dev.arbor.autoregressive;

import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.StateWrite;
import dev.arbor.api.sampling.SamplingContext;
import java.util.Arrays;

/**
 * The KV state of one causal row and the ids it holds: prefill and step are forwards that append to it, rollback
 * truncates it to the tokens still committed (speculative rejections), and {@link #pending} finds what a state that
 * fell behind or ahead of a history must be fed. Closing it closes the state. Not thread-safe (one per request).
 */
public final class KvCache implements AutoCloseable {
    private final DecodeState state;
    private final ModelBackend model;
    private int[] held = new int[64];
    private int length;

    /** A fresh single-row state of {@code model}. */
    public KvCache(ModelBackend model) {
        this.model = model;
        this.state = model.newState(1);
    }

    /** The backend state, for forwards this class does not build (tree masks, explicit positions). */
    public DecodeState state() {
        return state;
    }

    /** Slots held: the tokens fed and not rolled back. */
    public int length() {
        return length;
    }

    /** Appends {@code tokens}; returns the logits of the last one only (a prefill, or a step of one token). */
    public ForwardResult appendLast(int... tokens) {
        return forward(ForwardRequest.next(new int[][] {tokens}, state), tokens);
    }

    /** Appends {@code tokens}; returns the logits of {@code logitRows} (every row when null). */
    public ForwardResult append(int[] tokens, int[] logitRows) {
        ForwardRequest.Builder b = ForwardRequest.builder(new int[][] {tokens}).state(state).write(StateWrite.APPEND);
        if (logitRows != null) {
            b.logitRows(new int[][] {logitRows});
        }
        return forward(b.build(), tokens);
    }

    /** Rollback: keeps the first {@code keep} slots (no-op when it holds no more). */
    public void rollback(int keep) {
        if (length > keep) {
            state.truncate(keep);
            length = keep;
        }
    }

    /**
     * Rolls back to the longest prefix of what it holds that agrees with {@code history}, never all of it (a forward
     * needs one token to give fresh logits), and returns the tokens of {@code history} it must be fed next.
     */
    public int[] pending(SamplingContext history) {
        int n = history.length();
        int keep = 0;
        int limit = Math.min(length, n - 1);
        while (keep < limit && held[keep] == history.token(keep)) {
            keep++;
        }
        rollback(keep);
        int[] feed = new int[n - keep];
        for (int i = keep; i < n; i++) {
            feed[i - keep] = history.token(i);
        }
        return feed;
    }

    private ForwardResult forward(ForwardRequest request, int[] tokens) {
        ForwardResult result = model.forward(request);
        if (length + tokens.length > held.length) {
            held = Arrays.copyOf(held, Math.max(held.length * 2, length + tokens.length));
        }
        System.arraycopy(tokens, 0, held, length, tokens.length);
        length += tokens.length;
        return result;
    }

    @Override
    public void close() {
        state.close();
    }
}
