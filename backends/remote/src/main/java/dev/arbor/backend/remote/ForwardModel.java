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
import dev.arbor.platform.oip.InferenceModel;
import dev.arbor.platform.oip.Tensor;
import dev.arbor.platform.oip.TensorSpec;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * A local model backend served over the Open Inference Protocol as platform {@value ForwardProtocol#PLATFORM}: the
 * server side of {@link ForwardProtocol}. Forwards run on the local backend; states live in a {@link SequenceStore}
 * under the client's sequence ids. Every request is hostile: sizes are checked against the limits (tokens per
 * forward, rows, live sequences) before anything is allocated, ids and indices against what exists, and the
 * request's deadline before compute. Thread-safe.
 */
final class ForwardModel implements InferenceModel, AutoCloseable {
    private static final System.Logger LOG = System.getLogger("dev.arbor.backend.remote");

    /**
     * What a client may ask of one server.
     *
     * @param maxSequences       live sequences at once (each holds a KV state)
     * @param ttlMillis          idle time after which a sequence is freed
     * @param maxTokensPerForward rows x new tokens of one forward
     * @param maxRows            rows of one state
     */
    record Limits(int maxSequences, long ttlMillis, int maxTokensPerForward, int maxRows) {
        static final Limits DEFAULT = new Limits(256, 60_000L, 4096, 64);

        Limits {
            if (maxSequences < 1 || ttlMillis < 1 || maxTokensPerForward < 1 || maxRows < 1) {
                throw ArborException.invalid("every limit of a served model must be positive: " + maxSequences
                        + " sequences, " + ttlMillis + " ms TTL, " + maxTokensPerForward + " tokens per forward, "
                        + maxRows + " rows");
            }
        }
    }

    private final String name;
    private final Supplier<ModelBackend> backend;
    private final BooleanSupplier ready;
    private final Limits limits;
    private final boolean stateful;
    private final LongSupplier clockMillis;
    private final SequenceStore sequences;

    /**
     * Serves {@code backend} (opened on first use; {@code ready} says whether it can be) as {@code name}, keeping
     * states when {@code stateful} (else declaring no state); {@code clockMillis} times deadlines and idleness.
     */
    ForwardModel(String name, Supplier<ModelBackend> backend, BooleanSupplier ready, Limits limits, boolean stateful,
                 LongSupplier clockMillis) {
        this.name = name;
        this.backend = backend;
        this.ready = ready;
        this.limits = limits;
        this.stateful = stateful;
        this.clockMillis = clockMillis;
        this.sequences = new SequenceStore(limits.maxSequences(), limits.ttlMillis(), clockMillis);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String version() {
        return "1";
    }

    @Override
    public String platform() {
        return ForwardProtocol.PLATFORM;
    }

    @Override
    public List<TensorSpec> inputs() {
        return ForwardProtocol.INPUTS;
    }

    @Override
    public List<TensorSpec> outputs() {
        return ForwardProtocol.OUTPUTS;
    }

    @Override
    public boolean ready() {
        return ready.getAsBoolean();
    }

    /** Frees sequences idle past the TTL; returns how many (the exporter calls it periodically). */
    int reap() {
        return sequences.reap();
    }

    /** Live sequences now. */
    int liveSequences() {
        return sequences.size();
    }

    @Override
    public void close() {
        sequences.close();
    }

    @Override
    public InferResponse infer(InferRequest request) throws InferenceException {
        checkDeadline(request);
        Object op = request.parameters().getOrDefault(ForwardProtocol.OP, ForwardProtocol.OP_FORWARD);
        Map<String, Object> out = new LinkedHashMap<>();
        Tensor logits = null;
        ModelBackend model = model();
        try {
            if (ForwardProtocol.OP_DESCRIBE.equals(op)) {
                out.putAll(WireCard.encode(model.card(), stateful ? WireCard.CARRIED : WireCard.STATELESS));
                out.put(ForwardProtocol.STATE, stateful ? ForwardProtocol.STATE_SEQUENCE : ForwardProtocol.STATE_NONE);
                out.put("max_sequences", (long) limits.maxSequences());
                out.put("sequence_ttl_ms", limits.ttlMillis());
                out.put("max_tokens_per_forward", (long) limits.maxTokensPerForward());
                out.put("max_rows", (long) limits.maxRows());
            } else if (ForwardProtocol.OP_FORWARD.equals(op)) {
                logits = forward(model, request, out);
            } else if (op instanceof String s && List.of(ForwardProtocol.OP_FORK, ForwardProtocol.OP_TRUNCATE,
                    ForwardProtocol.OP_COMPACT, ForwardProtocol.OP_SELECT_ROWS, ForwardProtocol.OP_FREE).contains(s)) {
                stateOperation(s, request, out);
            } else {
                throw invalid(ForwardProtocol.OP + " must be one of describe, forward, fork, truncate, compact,"
                        + " select_rows, free; got '" + ForwardProtocol.clip(String.valueOf(op)) + "'");
            }
        } catch (ForwardProtocol.WireException e) {
            throw invalid(e.getMessage());
        } catch (ArborException e) {
            throw failure(e);
        }
        if (logits == null) {
            logits = new Tensor(ForwardProtocol.LOGITS, ForwardProtocol.FP32, List.of(0L, 0L, 0L), new float[0],
                    Map.of());
        }
        return new InferResponse(name, version(), request.id(), out, List.of(logits));
    }

    private ModelBackend model() throws InferenceException {
        try {
            return backend.get();
        } catch (ArborException e) {
            LOG.log(System.Logger.Level.WARNING, "served model " + name + " cannot be opened: " + e.getMessage());
            throw new InferenceException(InferenceException.Status.UNAVAILABLE, "model " + name
                    + " cannot be opened now (the server log says why)");
        }
    }

    private Tensor forward(ModelBackend model, InferRequest request, Map<String, Object> out)
            throws InferenceException, ForwardProtocol.WireException {
        ModelCard card = model.card();
        Tensor ids = required(request, ForwardProtocol.INPUT_IDS);
        if (ids.shape().size() != 2) {
            throw invalid(ForwardProtocol.INPUT_IDS + " must be [rows, tokens], got shape " + ids.shape());
        }
        long rows = ids.shape().get(0);
        long lq = ids.shape().get(1);
        if (rows < 1 || lq < 1 || rows > limits.maxRows() || rows * lq > limits.maxTokensPerForward()) {
            throw invalid("a forward of " + rows + " rows x " + lq + " tokens is outside this server's limits ("
                    + "1 to " + limits.maxRows() + " rows, at most " + limits.maxTokensPerForward()
                    + " tokens in all)");
        }
        int b = (int) rows;
        int[][] tokens = ForwardProtocol.ints2(ids, 0, card.vocabSize() - 1);
        int[][] positions = present(request, ForwardProtocol.POSITION_IDS)
                ? shaped(ForwardProtocol.ints2(request.input(ForwardProtocol.POSITION_IDS), 0,
                        card.maxPositions() - 1), b, (int) lq, ForwardProtocol.POSITION_IDS) : null;
        int[][] logitRows = logitRows(request, b, (int) lq);
        Object sequenceId = request.parameters().get(ForwardProtocol.SEQUENCE_ID);
        if (sequenceId == null) {
            ForwardRequest forward = new ForwardRequest(tokens, null, positions, attention(request, b, (int) lq, 0),
                    null, StateWrite.NONE, logitRows, false);
            return logits(model.forward(forward), b, card.vocabSize());
        }
        if (!stateful) {
            throw invalid("this server keeps no state (" + ForwardProtocol.STATE + " = none): send the whole"
                    + " history without " + ForwardProtocol.SEQUENCE_ID);
        }
        String id = SequenceStore.checkedId(sequenceId, ForwardProtocol.SEQUENCE_ID);
        boolean start = Boolean.TRUE.equals(request.parameters().get(ForwardProtocol.SEQUENCE_START));
        SequenceStore.Entry entry = start ? sequences.start(id, model.newState(b)) : sequences.get(id);
        boolean ok = false;
        entry.lock.lock();
        try {
            if (entry.freed) {
                throw new InferenceException(InferenceException.Status.NOT_FOUND, "sequence " + id + " was freed");
            }
            checkDeadline(request);
            applyTruncate(entry.state, request);
            DecodeState state = entry.state;
            if (state.batchSize() != b) {
                throw invalid("sequence " + id + " has " + state.batchSize() + " rows, the forward " + b);
            }
            int slots = state.length();
            if (slots + lq > card.maxPositions()) {
                throw invalid("sequence " + id + " holds " + slots + " slots; " + lq + " more exceed the context of "
                        + card.maxPositions());
            }
            StateWrite write = write(request, (int) lq, slots);
            ForwardRequest forward = new ForwardRequest(tokens, null, positions, attention(request, b, (int) lq,
                    slots), state, write, logitRows, false);
            Tensor logits = logits(model.forward(forward), b, card.vocabSize());
            out.put(ForwardProtocol.SEQUENCE_LENGTH, (long) state.length());
            entry.lastUsedMillis = clockMillis.getAsLong();
            if (Boolean.TRUE.equals(request.parameters().get(ForwardProtocol.SEQUENCE_END))) {
                sequences.release(entry);
            }
            ok = true;
            return logits;
        } finally {
            if (!ok && start) {
                sequences.release(entry); // a sequence whose first forward failed holds nothing useful
            }
            entry.lock.unlock();
        }
    }

    private void stateOperation(String op, InferRequest request, Map<String, Object> out)
            throws InferenceException, ForwardProtocol.WireException {
        if (!stateful) {
            throw invalid("this server keeps no state (" + ForwardProtocol.STATE + " = none): " + op
                    + " is the client's");
        }
        String id = SequenceStore.checkedId(request.parameters().get(ForwardProtocol.SEQUENCE_ID),
                ForwardProtocol.SEQUENCE_ID);
        if (ForwardProtocol.OP_FREE.equals(op)) {
            out.put("freed", sequences.free(id));
            return;
        }
        SequenceStore.Entry entry = sequences.get(id);
        String forkId = ForwardProtocol.OP_FORK.equals(op) ? SequenceStore.checkedId(
                request.parameters().get(ForwardProtocol.FORK_ID), ForwardProtocol.FORK_ID) : null;
        DecodeState forked = null;
        entry.lock.lock();
        try {
            if (entry.freed) {
                throw new InferenceException(InferenceException.Status.NOT_FOUND, "sequence " + id + " was freed");
            }
            checkDeadline(request);
            DecodeState state = entry.state;
            applyTruncate(state, request);
            switch (op) {
                case ForwardProtocol.OP_FORK -> forked = state.fork();
                case ForwardProtocol.OP_TRUNCATE -> {
                    Object length = request.parameters().get(ForwardProtocol.LENGTH);
                    state.truncate(integer(length, ForwardProtocol.LENGTH, 0, state.length()));
                }
                case ForwardProtocol.OP_COMPACT -> state.compact(ForwardProtocol.split(
                        request.parameters().get(ForwardProtocol.INDICES), state.length(), state.length(),
                        "compact"));
                default -> {
                    int[] rows = ForwardProtocol.split(request.parameters().get(ForwardProtocol.INDICES),
                            limits.maxRows(), state.batchSize(), "select_rows");
                    if (rows.length == 0) {
                        throw invalid("select_rows needs at least one row");
                    }
                    state.selectRows(rows);
                }
            }
            out.put(ForwardProtocol.SEQUENCE_LENGTH, (long) state.length());
        } finally {
            entry.lock.unlock();
        }
        if (forked != null) {
            sequences.start(forkId, forked); // counted against the limit like any sequence; closed when refused
        }
    }

    /** Applies a piggy-backed {@code truncate_to}. */
    private static void applyTruncate(DecodeState state, InferRequest request) throws InferenceException {
        Object to = request.parameters().get(ForwardProtocol.TRUNCATE_TO);
        if (to != null) {
            state.truncate(integer(to, ForwardProtocol.TRUNCATE_TO, 0, state.length()));
        }
    }

    private StateWrite write(InferRequest request, int lq, int slots) throws InferenceException,
            ForwardProtocol.WireException {
        Object mode = request.parameters().getOrDefault(ForwardProtocol.STATE_WRITE, ForwardProtocol.WRITE_APPEND);
        if (ForwardProtocol.WRITE_APPEND.equals(mode)) {
            return StateWrite.APPEND;
        }
        if (ForwardProtocol.WRITE_NONE.equals(mode)) {
            return StateWrite.NONE;
        }
        if (ForwardProtocol.WRITE_AT.equals(mode)) {
            long[] slotsAt = ForwardProtocol.longs(required(request, ForwardProtocol.WRITE_SLOTS));
            int[] at = new int[slotsAt.length];
            for (int i = 0; i < at.length; i++) {
                at[i] = (int) Math.max(-1, Math.min(Integer.MAX_VALUE, slotsAt[i]));
            }
            StateWrite.At write = new StateWrite.At(at);
            write.checkedSlots(lq, slots);
            return write;
        }
        throw invalid(ForwardProtocol.STATE_WRITE + " must be append, none or at; got '"
                + ForwardProtocol.clip(String.valueOf(mode)) + "'");
    }

    private AttentionSpec attention(InferRequest request, int b, int lq, int slots) throws InferenceException,
            ForwardProtocol.WireException {
        Object kind = request.parameters().getOrDefault(ForwardProtocol.ATTENTION, ForwardProtocol.ATTENTION_CAUSAL);
        AttentionSpec base;
        if (ForwardProtocol.ATTENTION_CAUSAL.equals(kind)) {
            base = AttentionSpec.CAUSAL;
        } else if (ForwardProtocol.ATTENTION_FULL.equals(kind)) {
            base = AttentionSpec.FULL;
        } else if (ForwardProtocol.ATTENTION_SEGMENTS.equals(kind)) {
            int[][] query = shaped(ForwardProtocol.ints2(required(request, ForwardProtocol.QUERY_SEGMENT), 0,
                    Integer.MAX_VALUE), b, lq, ForwardProtocol.QUERY_SEGMENT);
            int[][] key = shaped(ForwardProtocol.ints2(required(request, ForwardProtocol.KEY_SEGMENT), 0,
                    Integer.MAX_VALUE), b, slots + lq, ForwardProtocol.KEY_SEGMENT);
            base = new AttentionSpec.Segments(query, key);
        } else if (ForwardProtocol.ATTENTION_EXPLICIT.equals(kind)) {
            Tensor t = required(request, ForwardProtocol.VISIBLE);
            int keys = slots + lq;
            if (!t.shape().equals(List.of((long) b, (long) lq, (long) keys))) {
                throw invalid(ForwardProtocol.VISIBLE + " must have shape " + List.of(b, lq, keys) + ", got "
                        + t.shape());
            }
            boolean[] flat = ForwardProtocol.bools(t);
            BitSet[][] visible = new BitSet[b][lq];
            for (int row = 0; row < b; row++) {
                for (int q = 0; q < lq; q++) {
                    BitSet bits = new BitSet(keys);
                    for (int k = 0; k < keys; k++) {
                        if (flat[(row * lq + q) * keys + k]) {
                            bits.set(k);
                        }
                    }
                    visible[row][q] = bits;
                }
            }
            base = new AttentionSpec.Explicit(visible);
        } else {
            throw invalid(ForwardProtocol.ATTENTION + " must be causal, full, segments or explicit; got '"
                    + ForwardProtocol.clip(String.valueOf(kind)) + "'");
        }
        if (!present(request, ForwardProtocol.TOKEN_VALID)) {
            return base;
        }
        Tensor t = request.input(ForwardProtocol.TOKEN_VALID);
        if (!t.shape().equals(List.of((long) b, (long) lq))) {
            throw invalid(ForwardProtocol.TOKEN_VALID + " must have shape " + List.of(b, lq) + ", got " + t.shape());
        }
        boolean[] flat = ForwardProtocol.bools(t);
        boolean[][] valid = new boolean[b][lq];
        for (int row = 0; row < b; row++) {
            System.arraycopy(flat, row * lq, valid[row], 0, lq);
        }
        return new AttentionSpec.WithPadding(base, valid);
    }

    private int[][] logitRows(InferRequest request, int b, int lq) throws InferenceException,
            ForwardProtocol.WireException {
        if (!present(request, ForwardProtocol.LOGIT_ROWS)) {
            return null;
        }
        int[][] padded = ForwardProtocol.ints2(request.input(ForwardProtocol.LOGIT_ROWS), -1, lq - 1);
        if (padded.length != b || padded[0].length > lq) {
            throw invalid(ForwardProtocol.LOGIT_ROWS + " must have " + b + " rows of at most " + lq + " indices");
        }
        int[][] rows = new int[b][];
        for (int row = 0; row < b; row++) {
            int n = 0;
            while (n < padded[row].length && padded[row][n] >= 0) {
                n++;
            }
            rows[row] = java.util.Arrays.copyOf(padded[row], n);
        }
        return rows;
    }

    /** The logits as FP32 [B, k, V], k the most rows any batch item asked for (the rest zero). */
    private static Tensor logits(ForwardResult result, int b, int vocab) {
        int k = 0;
        for (float[][] rows : result.logits()) {
            k = Math.max(k, rows.length);
        }
        float[] flat = new float[b * k * vocab];
        for (int row = 0; row < b; row++) {
            float[][] rows = result.logits()[row];
            for (int i = 0; i < rows.length; i++) {
                System.arraycopy(rows[i], 0, flat, (row * k + i) * vocab, vocab);
            }
        }
        return new Tensor(ForwardProtocol.LOGITS, ForwardProtocol.FP32, List.of((long) b, (long) k, (long) vocab),
                flat, Map.of());
    }

    private static int[][] shaped(int[][] values, int rows, int cols, String name) throws InferenceException {
        if (values.length != rows || rows > 0 && values[0].length != cols) {
            throw invalid(name + " must have shape " + List.of(rows, cols));
        }
        return values;
    }

    private static boolean present(InferRequest request, String name) {
        Tensor t = request.input(name);
        return t != null && t.elementCount() > 0;
    }

    private static Tensor required(InferRequest request, String name) throws InferenceException {
        Tensor t = request.input(name);
        if (t == null) {
            throw invalid("input " + name + " is missing");
        }
        return t;
    }

    private static int integer(Object value, String name, int min, int max) throws InferenceException {
        if (!(value instanceof Number n) || n.longValue() < min || n.longValue() > max
                || n.doubleValue() != Math.rint(n.doubleValue())) {
            throw invalid(name + " must be an integer in [" + min + ", " + max + "], got " + value);
        }
        return n.intValue();
    }

    private void checkDeadline(InferRequest request) throws InferenceException {
        if (request.deadlineMillis() > 0 && clockMillis.getAsLong() > request.deadlineMillis()) {
            throw new InferenceException(InferenceException.Status.DEADLINE, "the request's deadline passed");
        }
    }

    private static InferenceException invalid(String message) {
        return new InferenceException(InferenceException.Status.INVALID, message);
    }

    /** A backend's refusal: the client's fault keeps its message; anything else is logged, not shown. */
    private InferenceException failure(ArborException e) {
        return switch (e.kind()) {
            case INVALID_INPUT, INCOMPATIBLE -> invalid(e.getMessage());
            case UNAVAILABLE -> new InferenceException(InferenceException.Status.UNAVAILABLE, e.getMessage());
            default -> {
                LOG.log(System.Logger.Level.WARNING, "served model " + name + " failed: " + e.getMessage(), e);
                yield new InferenceException(InferenceException.Status.INTERNAL, "model " + name
                        + " failed (the server log has the details)");
            }
        };
    }
}
