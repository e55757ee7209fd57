package dev.arbor.backend.remote;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.Tensor;
import dev.arbor.platform.oip.TensorSpec;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A model that runs in another process speaking the Open Inference Protocol: each {@link #forward} is one {@code
 * ModelInfer} (token ids, positions, attention and logit rows in; FP32 logits out), and the decode state lives on
 * the server under a sequence id, or, when the server declares no state, travels as the token history that every
 * forward replays (see {@link RemoteDecodeState}). Every call carries a gRPC deadline ({@code forward_timeout_ms})
 * and is cancelled when the request's thread is interrupted (the runtime's way to stop a request whose client left
 * or whose deadline passed); a server that is down or slow fails the call with an {@link ArborException} naming the
 * URL, never the runtime. Thread-safe: each request has its own states.
 */
final class RemoteModelBackend implements ModelBackend {
    /** Deadline of freeing a sequence. */
    static final long FREE_TIMEOUT_MILLIS = 2_000L;
    private final OipChannel channel;
    private final String url;
    private final ModelCard card;
    private final boolean stateful;
    private final long forwardTimeoutMillis;
    private volatile boolean closed;
    private volatile Runnable onClose = () -> { };

    RemoteModelBackend(OipChannel channel, String url, ModelCard card, boolean stateful, long forwardTimeoutMillis) {
        this.channel = channel;
        this.url = url;
        this.card = card;
        this.stateful = stateful;
        this.forwardTimeoutMillis = forwardTimeoutMillis;
    }

    /**
     * Asks the served model at {@code url} for its card and state form ({@code describe}) and opens it; fails with
     * UNAVAILABLE naming the URL when the server cannot be reached within {@code connectTimeoutMillis}; each
     * later call has {@code forwardTimeoutMillis}.
     */
    static RemoteModelBackend open(OipChannel channel, String url, long connectTimeoutMillis,
                                   long forwardTimeoutMillis) {
        String platform;
        try {
            platform = channel.platform(connectTimeoutMillis);
        } catch (InferenceException e) {
            throw failure(e, url, "metadata");
        }
        if (!ForwardProtocol.PLATFORM.equals(platform)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "the model at " + url + " is of platform '"
                    + ForwardProtocol.clip(String.valueOf(platform)) + "', not " + ForwardProtocol.PLATFORM
                    + ": the remote backend drives models that a server exposes forward by forward (arbor serve"
                    + " --expose-models)");
        }
        InferResponse described = call(channel, url, request(Map.of(ForwardProtocol.OP,
                ForwardProtocol.OP_DESCRIBE), emptyInputs(), connectTimeoutMillis), "describe");
        Map<String, Object> p = described.parameters();
        Object state = p.get(ForwardProtocol.STATE);
        boolean stateful;
        if (ForwardProtocol.STATE_SEQUENCE.equals(state)) {
            stateful = true;
        } else if (ForwardProtocol.STATE_NONE.equals(state)) {
            stateful = false;
        } else {
            throw ArborException.badModel("the remote model at " + url + " declares state '" + state + "'; this"
                    + " client knows '" + ForwardProtocol.STATE_SEQUENCE + "' and '" + ForwardProtocol.STATE_NONE
                    + "' (is it an Arbor forward model, platform " + ForwardProtocol.PLATFORM + "?)", null);
        }
        // named by its URL (which ends with the served name): errors then say where the model runs
        ModelCard card = WireCard.decode(p, url,
                stateful ? WireCard.CARRIED : WireCard.STATELESS, url);
        return new RemoteModelBackend(channel, url, card, stateful, forwardTimeoutMillis);
    }

    boolean stateful() {
        return stateful;
    }

    @Override
    public ModelCard card() {
        return card;
    }

    @Override
    public DecodeState newState(int batchSize) {
        checkOpen();
        if (batchSize < 1 || batchSize > 1 && !card.supports(Capability.BATCH)) {
            throw ArborException.invalid("the remote model " + card.name() + " cannot hold a state of " + batchSize
                    + " rows" + (batchSize > 1 ? " (it does not offer BATCH)" : ""));
        }
        return new RemoteDecodeState(this, batchSize);
    }

    @Override
    public ForwardResult forward(ForwardRequest r) {
        checkOpen();
        if (r.embeddings() != null || r.wantHidden()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "the remote model " + card.name()
                    + " takes token ids and returns logits only (no " + (r.embeddings() != null ? "INPUT_EMBEDS"
                    : "HIDDEN_OUTPUT") + ")");
        }
        Capability needed = r.attention().requiredCapability();
        if (needed != null && !card.supports(needed)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "the remote model " + card.name()
                    + " does not offer " + needed);
        }
        if (r.batchSize() > 1 && !card.supports(Capability.BATCH)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "the remote model " + card.name()
                    + " does not offer BATCH");
        }
        RemoteDecodeState state = null;
        if (r.state() != null) {
            if (!(r.state() instanceof RemoteDecodeState s) || s.backend() != this) {
                throw ArborException.invalid("the state given to the remote model " + card.name()
                        + " was not made by it");
            }
            state = s;
            state.checkUsable();
            if (state.batchSize() != r.batchSize()) {
                throw ArborException.invalid("the forward has " + r.batchSize() + " rows, its state "
                        + state.batchSize());
            }
        }
        if (r.write() instanceof StateWrite.At && !card.supports(Capability.STATE_WRITE_AT)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "the remote model " + card.name()
                    + " does not offer STATE_WRITE_AT");
        }
        return state != null && !stateful ? replay(r, state) : remoteForward(r, state);
    }

    /** The stateful form (or a stateless request): the new tokens go over the wire, the server holds the state. */
    private ForwardResult remoteForward(ForwardRequest r, RemoteDecodeState state) {
        int b = r.batchSize();
        int lq = r.queryLength();
        int slots = state == null ? 0 : state.length();
        Map<String, Object> params = new LinkedHashMap<>();
        params.put(ForwardProtocol.OP, ForwardProtocol.OP_FORWARD);
        if (state != null) {
            params.put(ForwardProtocol.SEQUENCE_ID, state.id());
            if (!state.started()) {
                params.put(ForwardProtocol.SEQUENCE_START, true);
            }
            int truncate = state.takePendingTruncate();
            if (truncate >= 0) {
                params.put(ForwardProtocol.TRUNCATE_TO, (long) truncate);
            }
            params.put(ForwardProtocol.STATE_WRITE, r.write() instanceof StateWrite.Append
                    ? ForwardProtocol.WRITE_APPEND
                    : r.write() instanceof StateWrite.At ? ForwardProtocol.WRITE_AT : ForwardProtocol.WRITE_NONE);
        }
        Map<String, Tensor> inputs = emptyInputMap();
        inputs.put(ForwardProtocol.INPUT_IDS, ForwardProtocol.int64(ForwardProtocol.INPUT_IDS, r.tokens()));
        if (r.positions() != null) {
            inputs.put(ForwardProtocol.POSITION_IDS, ForwardProtocol.int64(ForwardProtocol.POSITION_IDS,
                    r.positions()));
        }
        int[] rowCounts = putLogitRows(inputs, r.logitRows(), b, lq);
        putAttention(inputs, params, r.attention(), b, lq, slots);
        if (state != null && r.write() instanceof StateWrite.At at) {
            int[] written = at.checkedSlots(lq, slots);
            inputs.put(ForwardProtocol.WRITE_SLOTS, new Tensor(ForwardProtocol.WRITE_SLOTS, ForwardProtocol.INT64,
                    List.of((long) lq), java.util.Arrays.stream(written).asLongStream().toArray(), Map.of()));
        }
        InferResponse response;
        try {
            response = call(channel, url, request(params, List.copyOf(inputs.values()), forwardTimeoutMillis),
                    "forward");
        } catch (RuntimeException e) {
            if (state != null) {
                // the server may or may not have applied this forward (or started the sequence): its state and
                // ours may differ now; a copy it kept is freed at its TTL
                state.markBroken(e.getMessage());
            }
            throw e;
        }
        ForwardResult result = logits(response, b, rowCounts);
        if (state != null) {
            state.markStarted();
            if (r.write() instanceof StateWrite.Append) {
                state.setLength(slots + lq);
            }
        }
        return result;
    }

    /** The stateless form: history and new tokens as one causal forward without state; the history grows locally. */
    private ForwardResult replay(ForwardRequest r, RemoteDecodeState state) {
        if (!(r.attention() instanceof AttentionSpec.Causal)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "the remote model " + card.name()
                    + " keeps no state on its server, so a forward with a state must be causal, got "
                    + r.attention().getClass().getSimpleName());
        }
        int b = r.batchSize();
        int lq = r.queryLength();
        int h = state.length();
        int[][] newPositions = new int[b][lq];
        int[][] allTokens = new int[b][h + lq];
        int[][] allPositions = new int[b][h + lq];
        for (int row = 0; row < b; row++) {
            for (int j = 0; j < lq; j++) {
                newPositions[row][j] = r.positions() != null ? r.positions()[row][j] : h + j;
            }
            System.arraycopy(state.tokens()[row], 0, allTokens[row], 0, h);
            System.arraycopy(r.tokens()[row], 0, allTokens[row], h, lq);
            System.arraycopy(state.positions()[row], 0, allPositions[row], 0, h);
            System.arraycopy(newPositions[row], 0, allPositions[row], h, lq);
        }
        int[][] rows = new int[b][];
        for (int row = 0; row < b; row++) {
            int[] asked = r.logitRows() != null ? r.logitRows()[row]
                    : java.util.stream.IntStream.range(0, lq).toArray();
            rows[row] = new int[asked.length];
            for (int k = 0; k < asked.length; k++) {
                if (asked[k] < 0 || asked[k] >= lq) {
                    throw ArborException.invalid("logit row " + asked[k] + " is outside the " + lq + " new tokens");
                }
                rows[row][k] = h + asked[k];
            }
        }
        ForwardResult result = remoteForward(ForwardRequest.builder(allTokens).positions(allPositions)
                .logitRows(rows).build(), null);
        if (r.write() instanceof StateWrite.Append) {
            state.append(r.tokens(), newPositions);
        }
        return result;
    }

    /** Puts the logit rows (ragged rows padded with -1) and returns each row's count. */
    private static int[] putLogitRows(Map<String, Tensor> inputs, int[][] logitRows, int b, int lq) {
        int[] counts = new int[b];
        if (logitRows == null) {
            java.util.Arrays.fill(counts, lq);
            return counts;
        }
        int k = 0;
        for (int row = 0; row < b; row++) {
            counts[row] = logitRows[row].length;
            k = Math.max(k, counts[row]);
        }
        int[][] padded = new int[b][k];
        for (int row = 0; row < b; row++) {
            java.util.Arrays.fill(padded[row], -1);
            System.arraycopy(logitRows[row], 0, padded[row], 0, logitRows[row].length);
        }
        inputs.put(ForwardProtocol.LOGIT_ROWS, ForwardProtocol.int64(ForwardProtocol.LOGIT_ROWS, padded));
        return counts;
    }

    private static void putAttention(Map<String, Tensor> inputs, Map<String, Object> params, AttentionSpec spec,
                                     int b, int lq, int slots) {
        if (spec instanceof AttentionSpec.WithPadding p) {
            boolean[] valid = new boolean[b * lq];
            for (int row = 0; row < b; row++) {
                for (int j = 0; j < lq; j++) {
                    valid[row * lq + j] = p.newTokenValid()[row][j];
                }
            }
            inputs.put(ForwardProtocol.TOKEN_VALID, new Tensor(ForwardProtocol.TOKEN_VALID, ForwardProtocol.BOOL,
                    List.of((long) b, (long) lq), valid, Map.of()));
        }
        AttentionSpec base = spec.base();
        if (base instanceof AttentionSpec.Causal) {
            params.put(ForwardProtocol.ATTENTION, ForwardProtocol.ATTENTION_CAUSAL);
        } else if (base instanceof AttentionSpec.Full) {
            params.put(ForwardProtocol.ATTENTION, ForwardProtocol.ATTENTION_FULL);
        } else if (base instanceof AttentionSpec.Segments s) {
            params.put(ForwardProtocol.ATTENTION, ForwardProtocol.ATTENTION_SEGMENTS);
            inputs.put(ForwardProtocol.QUERY_SEGMENT, ForwardProtocol.int64(ForwardProtocol.QUERY_SEGMENT,
                    s.querySegment()));
            inputs.put(ForwardProtocol.KEY_SEGMENT, ForwardProtocol.int64(ForwardProtocol.KEY_SEGMENT,
                    s.keySegment()));
        } else if (base instanceof AttentionSpec.Explicit e) {
            params.put(ForwardProtocol.ATTENTION, ForwardProtocol.ATTENTION_EXPLICIT);
            int keys = slots + lq;
            boolean[] visible = new boolean[b * lq * keys];
            for (int row = 0; row < b; row++) {
                for (int q = 0; q < lq; q++) {
                    BitSet bits = e.visible()[row][q];
                    for (int k = bits.nextSetBit(0); k >= 0 && k < keys; k = bits.nextSetBit(k + 1)) {
                        visible[(row * lq + q) * keys + k] = true;
                    }
                }
            }
            inputs.put(ForwardProtocol.VISIBLE, new Tensor(ForwardProtocol.VISIBLE, ForwardProtocol.BOOL,
                    List.of((long) b, (long) lq, (long) keys), visible, Map.of()));
        }
    }

    /** The [B][k][V] logits of a response, each row cut to the count it asked for. */
    private ForwardResult logits(InferResponse response, int b, int[] rowCounts) {
        Tensor t = response.outputs().stream().filter(o -> o.name().equals(ForwardProtocol.LOGITS)).findFirst()
                .orElseThrow(() -> protocol("answered without a '" + ForwardProtocol.LOGITS + "' output"));
        int k = 0;
        for (int c : rowCounts) {
            k = Math.max(k, c);
        }
        int v = card.vocabSize();
        if (!(t.data() instanceof float[] flat) || !t.shape().equals(List.of((long) b, (long) k, (long) v))
                || flat.length != b * k * v) {
            throw protocol("answered logits of type " + t.datatype() + " and shape " + t.shape() + ", expected FP32 "
                    + List.of(b, k, v));
        }
        float[][][] out = new float[b][][];
        for (int row = 0; row < b; row++) {
            out[row] = new float[rowCounts[row]][];
            for (int i = 0; i < rowCounts[row]; i++) {
                int from = (row * k + i) * v;
                out[row][i] = java.util.Arrays.copyOfRange(flat, from, from + v);
            }
        }
        return new ForwardResult(out, null);
    }

    /** A state operation of the stateful form on {@code state}'s sequence, with any pending truncation first. */
    void stateOperation(RemoteDecodeState state, String op, Map<String, Object> extra) {
        checkOpen();
        Map<String, Object> params = new LinkedHashMap<>(extra);
        params.put(ForwardProtocol.OP, op);
        params.put(ForwardProtocol.SEQUENCE_ID, state.id());
        int truncate = state.takePendingTruncate();
        if (truncate >= 0) {
            params.put(ForwardProtocol.TRUNCATE_TO, (long) truncate);
        }
        try {
            call(channel, url, request(params, emptyInputs(), forwardTimeoutMillis), op);
        } catch (RuntimeException e) {
            state.markBroken(e.getMessage());
            throw e;
        }
    }

    /** Frees {@code state}'s sequence on the server; a failure is logged, not thrown (the server's TTL frees it). */
    void free(RemoteDecodeState state) {
        if (closed) {
            return;
        }
        Map<String, Object> params = new LinkedHashMap<>();
        params.put(ForwardProtocol.OP, ForwardProtocol.OP_FREE);
        params.put(ForwardProtocol.SEQUENCE_ID, state.id());
        params.put(ForwardProtocol.SEQUENCE_END, true);
        try {
            // short: a generator closes its states in finally blocks, and a server that does not answer frees
            // the sequence at its TTL anyway
            call(channel, url, request(params, emptyInputs(), Math.min(forwardTimeoutMillis, FREE_TIMEOUT_MILLIS)),
                    "free");
        } catch (RuntimeException e) {
            System.getLogger("dev.arbor.backend.remote").log(System.Logger.Level.DEBUG, "freeing sequence "
                    + state.id() + " at " + url + " failed (the server frees it when idle): " + e.getMessage());
        }
    }

    private static InferRequest request(Map<String, Object> params, List<Tensor> inputs, long timeoutMillis) {
        return new InferRequest("", params, inputs, List.of(ForwardProtocol.LOGITS),
                System.currentTimeMillis() + timeoutMillis);
    }

    private static Map<String, Tensor> emptyInputMap() {
        Map<String, Tensor> inputs = new LinkedHashMap<>();
        for (TensorSpec spec : ForwardProtocol.INPUTS) {
            inputs.put(spec.name(), ForwardProtocol.empty(spec));
        }
        return inputs;
    }

    private static List<Tensor> emptyInputs() {
        return new ArrayList<>(emptyInputMap().values());
    }

    /** One call; transport failures and refusals become ArborExceptions naming the URL and the operation. */
    private static InferResponse call(OipChannel channel, String url, InferRequest request, String op) {
        try {
            return channel.infer(request);
        } catch (InferenceException e) {
            throw failure(e, url, op);
        }
    }

    private static ArborException failure(InferenceException e, String url, String op) {
        ArborException.Kind kind = switch (e.status()) {
            case INVALID -> ArborException.Kind.INVALID_INPUT;
            case NOT_FOUND -> ArborException.Kind.NOT_FOUND;
            case UNAVAILABLE, DEADLINE -> ArborException.Kind.UNAVAILABLE;
            case INTERNAL -> ArborException.Kind.PLUGIN_FAILURE;
        };
        String what = switch (e.status()) {
            case UNAVAILABLE -> "is unreachable or unavailable";
            case DEADLINE -> "did not answer in time";
            case NOT_FOUND -> "does not serve that model or sequence";
            case INVALID -> "refused the request";
            case INTERNAL -> "failed";
        };
        return new ArborException(kind, "the remote model at " + url + " " + what + " (" + op + "): "
                + e.getMessage(), e);
    }

    private ArborException protocol(String what) {
        return new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the remote model at " + url + " " + what);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the remote model " + card.name() + " is closed");
        }
    }

    /** Runs {@code action} once this backend is closed (its provider forgets it then). */
    void onClose(Runnable action) {
        this.onClose = action;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        channel.close();
        onClose.run();
    }
}
