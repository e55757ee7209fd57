package dev.arbor.backend.onnxruntime;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.StateWrite;
import dev.arbor.backend.support.BatchingOptions;
import dev.arbor.backend.support.StepCoalescer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Lock;

/**
 * Forwards of a fused graph (see {@link DecoderSignature#fused}) over the model's {@link KvArena}, with continuous
 * batching: every forward becomes one or more {@link Step}s that a {@link StepCoalescer} merges with the steps of
 * other requests, so concurrent decodes run as one batched ONNX Runtime call over a slice of the arena. Plugins see
 * none of it.
 *
 * <p>Merging: single-token steps merge (up to {@code max_batch_rows} rows); a prompt runs alone, cut into chunks of
 * {@code prefill_chunk} tokens, so that the decodes of other requests run between its chunks. A batch covers the
 * arena rows from its lowest to its highest participating row; a row in between that no step of the batch serves
 * gets a dummy token with {@code seqlens_k} equal to its own length, so GroupQueryAttention writes its dummy keys and
 * values into the first slot past the row's valid ones, which is free by construction (the owner's next append
 * overwrites it, a truncated slot is dead). A row with no free slot left ends the slice instead: the batch is split
 * there. Edits that copy KV (fork, selectRows, compact) take the arena exclusively, so no run is in flight then.
 *
 * <p>Options: {@code batching} (default true; false runs each forward on its own, concurrently, over its own rows),
 * {@code max_batch_rows} (default 64: rows of the arena, i.e. the rows of open states together),
 * {@code prefill_chunk} (default 64 tokens), {@code batch_gather_us} (default 300: how long a batch may wait for
 * the requests of the previous batch to come back with their next step, see {@link StepCoalescer}) and
 * {@code arena_rows} (initial arena rows, default 4; it doubles on demand).
 *
 * <p>Steady decoding allocates no tensor: the id, position and length inputs and the logits output are views over
 * direct buffers made once per batch size, and the KV views once per slice.
 */
final class FusedDecoder implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtSession session;
    private final DecoderSignature sig;
    private final Path file;
    private final String name;
    private final int vocab;
    private final int maxPositions;
    private final int maxRows;
    private final int chunk;
    private final KvArena arena;
    private final StepCoalescer<Step, Step> coalescer;
    /** The coalescer runner's buffers (its runs never overlap). */
    private final RunBuffers shared;

    FusedDecoder(OrtEnvironment env, OrtSession session, DecoderSignature sig, Path file, String name, int vocab,
                 int maxPositions, Options options, StepCoalescer.Observer observer) {
        this.env = env;
        this.session = session;
        this.sig = sig;
        this.file = file;
        this.name = name;
        this.vocab = vocab;
        this.maxPositions = maxPositions;
        if (sig.pastSeqDim > 0 && sig.pastSeqDim != maxPositions) {
            throw ArborException.badModel("fused ONNX model '" + file + "' declares a KV buffer of " + sig.pastSeqDim
                    + " slots per row (" + sig.pastNames[0] + ") but a context of " + maxPositions + " positions; "
                    + "the backend allocates one slot per position, so the two must agree (or leave the axis "
                    + "symbolic)", null);
        }
        // A fused run is cheap (~100 us on stories260K), so the gather window stays short.
        BatchingOptions batching = BatchingOptions.from(options, 64, 300);
        this.maxRows = batching.maxRows();
        this.chunk = options.integer("prefill_chunk", 64, 1, Integer.MAX_VALUE);
        int initial = options.integer("arena_rows", Math.min(4, maxRows), 1, maxRows);
        this.arena = new KvArena(env, sig, name, maxPositions, initial, maxRows);
        this.shared = batching.enabled() ? new RunBuffers() : null;
        this.coalescer = batching.coalescer(POLICY, this::runBatch, observer);
    }

    /** One run's worth of a forward: tokens {@code from..to-1} of every row of {@code state}. */
    static final class Step {
        final FusedDecodeState state;
        final int[][] tokens;
        final int from;
        final int to;
        /** The state's length when the forward started; the chunk's first token goes to slot base + from. */
        final int base;
        final boolean append;
        /** The request's explicit positions (all its new tokens), null for slot order. */
        final int[][] positions;
        /** The request's logit rows (indices into all its new tokens), null for every row. */
        final int[][] logitRows;
        /** The request's result, filled chunk by chunk. */
        final float[][][] out;
        /** An explicit mask's visibility (keys: state slots, then new tokens), null for plain causal attention. */
        final BitSet[][] visible;

        Step(FusedDecodeState state, int[][] tokens, int from, int to, int base, boolean append, int[][] positions,
             int[][] logitRows, float[][][] out, BitSet[][] visible) {
            this.state = state;
            this.tokens = tokens;
            this.from = from;
            this.to = to;
            this.base = base;
            this.append = append;
            this.positions = positions;
            this.logitRows = logitRows;
            this.out = out;
            this.visible = visible;
        }

        int lq() {
            return to - from;
        }

        /** The position of token {@code t} of this chunk in request row {@code b}. */
        int position(int b, int t) {
            return positions != null ? positions[b][from + t] : base + from + t;
        }
    }

    /** Single-token steps merge; anything longer runs alone. */
    private static final StepCoalescer.Policy<Step> POLICY = new StepCoalescer.Policy<>() {
        @Override
        public int rows(Step step) {
            return step.state.batchSize();
        }

        @Override
        public boolean compatible(Step first, Step other) {
            // A masked step feeds its own attention_bias, so it runs alone (speculative trees: rare and short).
            return first.lq() == 1 && other.lq() == 1 && first.visible == null && other.visible == null;
        }
    };

    String modelName() {
        return name;
    }

    /** Batching totals, or null when batching is off. */
    StepCoalescer.Stats stats() {
        return coalescer == null ? null : coalescer.stats();
    }

    FusedDecodeState newState(int batch) {
        if (batch > maxRows) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, "a decode state of " + batch + " rows "
                    + "exceeds option max_batch_rows=" + maxRows + " of '" + name + "'");
        }
        return new FusedDecodeState(this, arena, batch);
    }

    /**
     * Runs a validated request (ids in the vocabulary, equal row lengths, causal attention without padding, logit
     * rows in range) on a fused graph.
     */
    ForwardResult forward(ForwardRequest req, int[][] tokens, int lq, int[][] logitRows) {
        int batch = tokens.length;
        if (req.write() instanceof StateWrite.At) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "StateWrite.At is not supported by the fused "
                    + "graph of '" + name + "' (no STATE_WRITE_AT capability): GroupQueryAttention appends after each "
                    + "row's length; truncate the state and append instead");
        }
        FusedDecodeState state = null;
        if (req.state() != null) {
            if (!(req.state() instanceof FusedDecodeState s) || s.owner() != this) {
                throw ArborException.invalid("the decode state was not created by this backend ('" + name
                        + "'); use newState() of the backend that runs the request");
            }
            if (s.isClosed()) {
                throw ArborException.invalid("the decode state passed to forward on '" + name + "' is closed");
            }
            if (s.batchSize() != batch) {
                throw ArborException.invalid("the request has " + batch + " rows but the decode state has "
                        + s.batchSize());
            }
            state = s;
        }
        int base = state == null ? 0 : state.length();
        if (base + lq > maxPositions) {
            throw ArborException.invalid("position " + (base + lq - 1) + " is outside the context [0, " + maxPositions
                    + ") of '" + name + "': the row's context is full (truncate the state, or start a new one)");
        }
        checkPositions(req.positions(), batch, lq, base);
        BitSet[][] visible = req.attention() instanceof AttentionSpec.Explicit e ? checkMask(e, batch, lq, base)
                : null;
        boolean temporary = state == null;
        if (temporary) {
            state = newState(batch);
        }
        try {
            boolean append = temporary || req.write() instanceof StateWrite.Append;
            float[][][] out = new float[batch][][];
            for (int b = 0; b < batch; b++) {
                out[b] = new float[logitRows == null ? lq : logitRows[b].length][];
            }
            // A prompt is cut into chunks only where other requests' decodes can run between them; a read-only
            // forward stays whole, since rows it does not append to may be written past their length meanwhile.
            int step = coalescer != null && append ? chunk : lq;
            for (int from = 0; from < lq; from += step) {
                submit(new Step(state, tokens, from, Math.min(lq, from + step), base, append, req.positions(),
                        logitRows, out, visible));
            }
            return new ForwardResult(out, null);
        } finally {
            if (temporary) {
                state.close();
            }
        }
    }

    /**
     * Runs single-token appends of distinct states as one batch, as the coalescer does when they queue together; lets
     * tests pin down the batched path (dummy rows, split slices) without depending on thread timing.
     */
    List<float[][][]> forwardTogether(List<FusedDecodeState> states, List<int[][]> tokens) {
        List<Step> steps = new ArrayList<>();
        List<float[][][]> outs = new ArrayList<>();
        for (int i = 0; i < states.size(); i++) {
            FusedDecodeState s = states.get(i);
            float[][][] out = new float[s.batchSize()][1][];
            outs.add(out);
            steps.add(new Step(s, tokens.get(i), 0, 1, s.length(), true, null, null, out, null));
        }
        runBatch(steps);
        return outs;
    }

    KvArena arena() {
        return arena;
    }

    /**
     * The visibility of an explicit mask, checked against what GroupQueryAttention can do: its attention_bias is added
     * to the kernel's own causal mask, so a query may hide keys (a draft tree's other branches, dropped prompt parts)
     * but never see a later slot than its own.
     */
    private BitSet[][] checkMask(AttentionSpec.Explicit mask, int batch, int lq, int base) {
        if (!sig.hasBias) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "the fused graph of '" + name + "' has no "
                    + "attention_bias input, so it takes causal attention only; convert it again for explicit masks");
        }
        BitSet[][] visible = mask.visible();
        if (visible.length != batch) {
            throw ArborException.invalid("Explicit attention: visible has " + visible.length + " rows, the request "
                    + "has " + batch);
        }
        for (int b = 0; b < batch; b++) {
            if (visible[b] == null || visible[b].length != lq) {
                throw ArborException.invalid("Explicit attention: visible[" + b + "] has " + (visible[b] == null
                        ? "no entries" : visible[b].length + " entries") + ", expected one per new token (" + lq + ")");
            }
            for (int q = 0; q < lq; q++) {
                if (visible[b][q] == null) {
                    throw ArborException.invalid("Explicit attention: visible[" + b + "][" + q + "] is null");
                }
                int later = visible[b][q].nextSetBit(base + q + 1);
                if (later >= 0) {
                    throw new ArborException(ArborException.Kind.INCOMPATIBLE, "Explicit attention: query " + q
                            + " of row " + b + " sees key " + later + ", after its own slot " + (base + q) + "; the "
                            + "fused graph of '" + name + "' can only hide keys within causal attention (use the "
                            + "reference graph, option graph=reference, for other masks)");
                }
            }
        }
        return visible;
    }

    /**
     * Explicit positions go to the graph's position_ids input (keys still go to slot state length + j, as
     * GroupQueryAttention places them); a graph without that input can only take the slot order.
     */
    private void checkPositions(int[][] positions, int batch, int lq, int base) {
        if (positions == null) {
            return;
        }
        if (positions.length != batch) {
            throw ArborException.invalid("positions has " + positions.length + " rows, the request has " + batch);
        }
        for (int b = 0; b < batch; b++) {
            if (positions[b] == null || positions[b].length != lq) {
                throw ArborException.invalid("positions[" + b + "] has " + (positions[b] == null ? "no entries"
                        : positions[b].length + " entries") + ", expected " + lq);
            }
            for (int j = 0; j < lq; j++) {
                int p = positions[b][j];
                if (sig.positionType == null && p != base + j) {
                    throw new ArborException(ArborException.Kind.INCOMPATIBLE, "model '" + name + "' has no "
                            + "position_ids input, so token j of a forward is at position state length + j; "
                            + "positions[" + b + "][" + j + "] is " + p + ", expected " + (base + j));
                }
                if (p < 0 || p >= maxPositions) {
                    throw ArborException.invalid("position " + p + " in row " + b + " is outside the context [0, "
                            + maxPositions + ") of '" + name + "'");
                }
            }
        }
    }

    private void submit(Step step) {
        if (coalescer != null) {
            coalescer.submit(step);
            return;
        }
        FusedDecodeState s = step.state;
        if (s.scratch == null) {
            s.scratch = new RunBuffers();
        }
        Lock lock = arena.runLock();
        lock.lock();
        try {
            run(List.of(step), s.scratch);
        } finally {
            lock.unlock();
        }
    }

    /** The coalescer's runner: the batch's steps, oldest first; returns them as their own results. */
    private List<Step> runBatch(List<Step> steps) {
        Lock lock = arena.runLock();
        lock.lock();
        try {
            run(steps, shared);
        } finally {
            lock.unlock();
        }
        return steps;
    }

    private void run(List<Step> steps, RunBuffers scratch) {
        try {
            if (steps.size() == 1 && (steps.get(0).lq() > 1 || steps.get(0).visible != null)) {
                runPrompt(steps.get(0), scratch);
            } else {
                runDecode(steps, scratch);
            }
        } catch (OrtException e) {
            Step s = steps.get(0);
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "ONNX Runtime failed on '" + file + "' for "
                    + steps.size() + " batched step(s), the first of " + s.state.batchSize() + " row(s) x " + s.lq()
                    + " new token(s) after " + (s.base + s.from) + " cached slot(s): " + e.getMessage(), e);
        }
    }

    /**
     * A chunk of several tokens, alone. GroupQueryAttention takes several new tokens per row only for a first prompt
     * (empty past, every row) or for one row, so a multi-row state with a past runs row by row.
     */
    private void runPrompt(Step step, RunBuffers scratch) throws OrtException {
        int rows = step.state.batchSize();
        int past = step.base + step.from;
        if (past == 0 || rows == 1) {
            runRows(step, 0, rows, past, scratch);
        } else {
            for (int b = 0; b < rows; b++) {
                runRows(step, b, 1, past, scratch);
            }
        }
        if (step.append) {
            step.state.advance(step.lq());
        }
    }

    /** Rows b0..b0+n-1 of a step with {@code past} cached slots each; fresh input tensors (not the decode path). */
    private void runRows(Step step, int b0, int n, int past, RunBuffers scratch) throws OrtException {
        int lq = step.lq();
        int r0 = step.state.firstRow() + b0;
        List<OnnxTensor> created = new ArrayList<>(5);
        try {
            int idBytes = bytes(sig.idsType);
            scratch.promptIds = RunBuffers.ensure(scratch.promptIds, n * lq * idBytes);
            scratch.promptPositions = RunBuffers.ensure(scratch.promptPositions, n * lq * Long.BYTES);
            for (int i = 0; i < n; i++) {
                for (int t = 0; t < lq; t++) {
                    int k = i * lq + t;
                    put(scratch.promptIds, sig.idsType, k, step.tokens[b0 + i][step.from + t]);
                    if (sig.positionType != null) {
                        put(scratch.promptPositions, sig.positionType, k, step.position(b0 + i, t));
                    }
                }
            }
            long[] shape2 = {n, lq};
            Map<String, OnnxTensor> inputs = scratch.inputs;
            Map<String, OnnxValue> pinned = scratch.pinned;
            inputs.put(DecoderSignature.INPUT_IDS, add(created, tensor(scratch.promptIds, sig.idsType, n * lq,
                    shape2)));
            if (sig.positionType != null) {
                inputs.put(DecoderSignature.POSITION_IDS, add(created, tensor(scratch.promptPositions,
                        sig.positionType, n * lq, shape2)));
            }
            scratch.promptSeqlens = RunBuffers.ensure(scratch.promptSeqlens, n * Integer.BYTES);
            for (int i = 0; i < n; i++) {
                scratch.promptSeqlens.putInt(i * Integer.BYTES, past + lq - 1);
            }
            inputs.put(DecoderSignature.SEQLENS_K, add(created, OnnxTensor.createTensor(env,
                    scratch.promptSeqlens.asIntBuffer().limit(n), new long[] {n})));
            scratch.total.putInt(0, past + lq);
            inputs.put(DecoderSignature.TOTAL_SEQUENCE_LENGTH, scratch.totalTensor());
            if (sig.hasBias) {
                inputs.put(DecoderSignature.ATTENTION_BIAS, add(created, promptBias(step, b0, n, past, scratch)));
            }
            OnnxTensor[] kv = arena.view(r0, n);
            for (int i = 0; i < kv.length; i++) {
                inputs.put(sig.pastNames[i], kv[i]);
                pinned.put(sig.presentNames[i], kv[i]);
            }
            scratch.promptLogits = RunBuffers.ensure(scratch.promptLogits, n * lq * vocab * Float.BYTES);
            FloatBuffer logitsData = scratch.promptLogits.asFloatBuffer();
            pinned.put(DecoderSignature.LOGITS, add(created, OnnxTensor.createTensor(env, logitsData,
                    new long[] {n, lq, vocab})));
            session.run(inputs, pinned).close();
            for (int i = 0; i < n; i++) {
                fill(step, b0 + i, logitsData, i * lq);
            }
        } finally {
            for (OnnxTensor t : created) {
                t.close();
            }
        }
    }

    /** Single-token steps of one or more states, as few runs over arena slices as the rows allow. */
    private void runDecode(List<Step> steps, RunBuffers scratch) throws OrtException {
        int lo = Integer.MAX_VALUE;
        int hi = -1;
        for (Step s : steps) {
            lo = Math.min(lo, s.state.firstRow());
            hi = Math.max(hi, s.state.firstRow() + s.state.batchSize() - 1);
        }
        Step[] rowStep = scratch.rowStep(arena.capacityRows());
        for (int r = lo; r <= hi; r++) {
            rowStep[r] = null;
        }
        for (Step s : steps) {
            for (int b = 0; b < s.state.batchSize(); b++) {
                rowStep[s.state.firstRow() + b] = s;
            }
        }
        // A row no step serves and that has no free slot cannot take a dummy write: the slice ends before it.
        int start = lo;
        boolean served = false;
        for (int r = lo; r <= hi + 1; r++) {
            boolean end = r > hi || (rowStep[r] == null && arena.length(r) >= arena.slots());
            if (end) {
                if (served) {
                    runSlice(start, r - start, rowStep, scratch);
                }
                start = r + 1;
                served = false;
            } else {
                served |= rowStep[r] != null;
            }
        }
        for (Step s : steps) {
            if (s.append) {
                s.state.advance(1);
            }
        }
    }

    /**
     * One run of one token per row over arena rows r0..r0+n-1 (rows without a step get a dummy token). Each row's
     * past comes from seqlens_k alone in a single-token run, so total_sequence_length is given as the row capacity:
     * the run's shapes (and the zero attention_bias, when the graph has one) then stay the same from step to step
     * and their tensors are made once.
     */
    private void runSlice(int r0, int n, Step[] rowStep, RunBuffers scratch) throws OrtException {
        for (int i = 0; i < n; i++) {
            int r = r0 + i;
            Step s = rowStep[r];
            int token;
            int length;
            int position;
            if (s != null) {
                token = s.tokens[r - s.state.firstRow()][s.from];
                length = s.base + s.from;
                position = s.position(r - s.state.firstRow(), 0);
            } else {
                token = 0;
                length = arena.length(r);
                position = Math.min(length, maxPositions - 1);
            }
            put(scratch.ids, sig.idsType, i, token);
            if (sig.positionType != null) {
                put(scratch.positions, sig.positionType, i, position);
            }
            scratch.seqlens.putInt(i * Integer.BYTES, length); // tokens after the step, minus 1
        }
        // capacity >= every row's tokens after the step, and never equal to the query length 1 unless the capacity
        // is 1 (then every row is empty and GroupQueryAttention's first-prompt path is right as well)
        scratch.total.putInt(0, arena.slots());
        Map<String, OnnxTensor> inputs = scratch.inputs;
        Map<String, OnnxValue> pinned = scratch.pinned;
        scratch.ensureDecodeTensors(n);
        inputs.put(DecoderSignature.INPUT_IDS, scratch.idsT[n]);
        if (sig.positionType != null) {
            inputs.put(DecoderSignature.POSITION_IDS, scratch.positionsT[n]);
        }
        inputs.put(DecoderSignature.SEQLENS_K, scratch.seqlensT[n]);
        inputs.put(DecoderSignature.TOTAL_SEQUENCE_LENGTH, scratch.totalTensor());
        if (sig.hasBias) {
            inputs.put(DecoderSignature.ATTENTION_BIAS, scratch.biasT[n]);
        }
        OnnxTensor[] kv = arena.view(r0, n);
        for (int i = 0; i < kv.length; i++) {
            inputs.put(sig.pastNames[i], kv[i]);
            pinned.put(sig.presentNames[i], kv[i]);
        }
        pinned.put(DecoderSignature.LOGITS, scratch.logitsT[n]);
        session.run(inputs, pinned).close();
        for (int i = 0; i < n; i++) {
            Step s = rowStep[r0 + i];
            if (s != null) {
                fill(s, r0 + i - s.state.firstRow(), scratch.logitsView, i);
            }
        }
    }

    /**
     * Copies the logits a step's request asked for out of a run's output, whose rows for request row {@code b} start
     * at output row {@code firstRow} (one output row per token of the chunk).
     */
    private void fill(Step step, int b, FloatBuffer logits, int firstRow) {
        int[] wanted = step.logitRows == null ? null : step.logitRows[b];
        float[][] dst = step.out[b];
        if (wanted == null) {
            for (int t = 0; t < step.lq(); t++) {
                dst[step.from + t] = read(logits, firstRow + t);
            }
            return;
        }
        for (int k = 0; k < wanted.length; k++) {
            if (wanted[k] >= step.from && wanted[k] < step.to) {
                dst[k] = read(logits, firstRow + wanted[k] - step.from);
            }
        }
    }

    private float[] read(FloatBuffer logits, int row) {
        float[] v = new float[vocab];
        logits.get(row * vocab, v, 0, vocab);
        return v;
    }

    /**
     * attention_bias [n, 1, lq, past + lq] of rows b0..b0+n-1 of a chunk: all zeros (the graph's own causal mask
     * decides) or, for a masked step, 0 where the query sees the key and {@link OnnxDecoderBackend#HIDDEN} elsewhere.
     * Column k is slot k, which is also key k of the mask (state slots, then the request's new tokens from slot base
     * on).
     */
    private OnnxTensor promptBias(Step step, int b0, int n, int past, RunBuffers scratch) throws OrtException {
        int lq = step.lq();
        int total = past + lq;
        int cells = n * lq * total;
        scratch.promptBias = RunBuffers.ensure(scratch.promptBias, cells * Float.BYTES);
        FloatBuffer bias = scratch.promptBias.asFloatBuffer().limit(cells);
        for (int i = 0; i < n; i++) {
            for (int t = 0; t < lq; t++) {
                BitSet seen = step.visible == null ? null : step.visible[b0 + i][step.from + t];
                int offset = (i * lq + t) * total;
                for (int k = 0; k < total; k++) {
                    bias.put(offset + k, seen == null || seen.get(k) ? 0f : OnnxDecoderBackend.HIDDEN);
                }
            }
        }
        return OnnxTensor.createTensor(env, bias, new long[] {n, 1, lq, total});
    }

    private static OnnxTensor add(List<OnnxTensor> created, OnnxTensor t) {
        created.add(t);
        return t;
    }

    private static int bytes(OnnxJavaType type) {
        return type == OnnxJavaType.INT64 ? Long.BYTES : Integer.BYTES;
    }

    private static void put(ByteBuffer buf, OnnxJavaType type, int index, int value) {
        if (type == OnnxJavaType.INT64) {
            buf.putLong(index * Long.BYTES, value);
        } else {
            buf.putInt(index * Integer.BYTES, value);
        }
    }

    private OnnxTensor tensor(ByteBuffer buf, OnnxJavaType type, int count, long[] shape) throws OrtException {
        ByteBuffer slice = buf.slice(0, count * bytes(type)).order(ByteOrder.nativeOrder());
        return type == OnnxJavaType.INT64 ? OnnxTensor.createTensor(env, slice.asLongBuffer(), shape)
                : OnnxTensor.createTensor(env, slice.asIntBuffer(), shape);
    }

    /**
     * Reusable buffers and tensors of one runner: the coalescer's (shared, its runs never overlap) or one state's
     * when batching is off. Decode-step tensors are views over direct buffers sized for {@code max_batch_rows},
     * made once per batch size; the input and pinned-output maps are reused too.
     */
    final class RunBuffers implements AutoCloseable {
        final ByteBuffer ids = direct(maxRows * Long.BYTES);
        final ByteBuffer positions = direct(maxRows * Long.BYTES);
        final ByteBuffer seqlens = direct(maxRows * Integer.BYTES);
        final ByteBuffer total = direct(Integer.BYTES);
        final ByteBuffer logits = direct(maxRows * vocab * Float.BYTES);
        final FloatBuffer logitsView = logits.asFloatBuffer();
        final OnnxTensor[] idsT = new OnnxTensor[maxRows + 1];
        final OnnxTensor[] positionsT = new OnnxTensor[maxRows + 1];
        final OnnxTensor[] seqlensT = new OnnxTensor[maxRows + 1];
        final OnnxTensor[] logitsT = new OnnxTensor[maxRows + 1];
        /** Zero attention_bias [n, 1, 1, slots] per n, over one shared zero buffer (graphs with the input only). */
        final OnnxTensor[] biasT = new OnnxTensor[maxRows + 1];
        private ByteBuffer zeros;
        private OnnxTensor totalT;
        final Map<String, OnnxTensor> inputs = new HashMap<>();
        final Map<String, OnnxValue> pinned = new HashMap<>();
        ByteBuffer promptIds;
        ByteBuffer promptPositions;
        ByteBuffer promptLogits;
        ByteBuffer promptSeqlens;
        ByteBuffer promptBias;
        private Step[] rowStep = new Step[0];

        private static ByteBuffer direct(int bytes) {
            return ByteBuffer.allocateDirect(Math.max(bytes, 8)).order(ByteOrder.nativeOrder());
        }

        /** {@code buffer} when it holds {@code bytes}, else a larger one (see {@link Scratch#ensure}). */
        static ByteBuffer ensure(ByteBuffer buffer, int bytes) {
            return Scratch.ensure(buffer, bytes);
        }

        Step[] rowStep(int rows) {
            if (rowStep.length < rows) {
                rowStep = new Step[rows];
            }
            return rowStep;
        }

        OnnxTensor totalTensor() throws OrtException {
            if (totalT == null) {
                totalT = OnnxTensor.createTensor(env, total.asIntBuffer().limit(1).slice(),
                        sig.totalRank == 0 ? new long[0] : new long[] {1});
            }
            return totalT;
        }

        /** Creates the decode tensors for {@code n} rows on first use. */
        void ensureDecodeTensors(int n) throws OrtException {
            if (idsT[n] != null) {
                return;
            }
            long[] shape = {n, 1};
            idsT[n] = tensor(ids, sig.idsType, n, shape);
            if (sig.positionType != null) {
                positionsT[n] = tensor(positions, sig.positionType, n, shape);
            }
            seqlensT[n] = OnnxTensor.createTensor(env, seqlens.slice(0, n * Integer.BYTES)
                    .order(ByteOrder.nativeOrder()).asIntBuffer(), new long[] {n});
            logitsT[n] = OnnxTensor.createTensor(env, logits.slice(0, n * vocab * Float.BYTES)
                    .order(ByteOrder.nativeOrder()).asFloatBuffer(), new long[] {n, 1, vocab});
            if (sig.hasBias) {
                if (zeros == null) {
                    zeros = direct(maxRows * arena.slots() * Float.BYTES); // direct buffers start zeroed
                }
                biasT[n] = OnnxTensor.createTensor(env, zeros.slice(0, n * arena.slots() * Float.BYTES)
                        .order(ByteOrder.nativeOrder()).asFloatBuffer(), new long[] {n, 1, 1, arena.slots()});
            }
        }

        @Override
        public void close() {
            for (OnnxTensor[] ts : List.of(idsT, positionsT, seqlensT, logitsT, biasT)) {
                for (int i = 0; i < ts.length; i++) {
                    if (ts[i] != null) {
                        ts[i].close();
                        ts[i] = null;
                    }
                }
            }
            if (totalT != null) {
                totalT.close();
                totalT = null;
            }
        }
    }

    /** Frees the arena's views and the shared tensors; the session belongs to the backend. */
    @Override
    public void close() {
        arena.close();
        if (shared != null) {
            shared.close();
        }
    }
}
