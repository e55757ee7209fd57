package dev.arbor.backend.onnxruntime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import java.util.BitSet;

/**
 * The KV cache of one request: the current {@link KvBlock} (null while empty), its length in slots, and per row
 * which slots hold real tokens rather than left padding. Padding slots stay in the cache (every row has the same
 * length) but are hidden from every query through {@code attention_mask}/{@code attention_bias}, and they do not
 * count towards default position ids. Not thread-safe: one request owns it (see {@link DecodeState}).
 */
final class OnnxDecodeState implements DecodeState {
    private final OnnxDecoderBackend owner;
    private int batch;
    private int length;
    private KvBlock kv;
    private BitSet[] valid;
    private int[] validCount;
    private boolean closed;
    private final Scratch scratch = new Scratch();

    OnnxDecodeState(OnnxDecoderBackend owner, int batch) {
        this.owner = owner;
        this.batch = batch;
        this.valid = new BitSet[batch];
        this.validCount = new int[batch];
        for (int b = 0; b < batch; b++) {
            valid[b] = new BitSet();
        }
    }

    private OnnxDecodeState(OnnxDecodeState from) {
        this.owner = from.owner;
        this.batch = from.batch;
        this.length = from.length;
        this.kv = from.kv == null ? null : from.kv.retain();
        this.valid = new BitSet[batch];
        for (int b = 0; b < batch; b++) {
            valid[b] = (BitSet) from.valid[b].clone();
        }
        this.validCount = from.validCount.clone();
    }

    /** Reusable input/output buffers of this state's forward calls. */
    Scratch scratch() {
        return scratch;
    }

    OnnxDecoderBackend owner() {
        return owner;
    }

    @Override
    public int batchSize() {
        return batch;
    }

    @Override
    public int length() {
        return length;
    }

    /** True when slot {@code slot} of row {@code row} holds a real token. */
    boolean slotValid(int row, int slot) {
        return valid[row].get(slot);
    }

    /** Real (non-padding) tokens held by {@code row}: the default position of its next token. */
    int validCount(int row) {
        return validCount[row];
    }

    /** The past tensors to feed, aligned with the graph's past inputs, or null while the state is empty. */
    OnnxTensor[] pastTensors() {
        ensureOpen("forward");
        return kv == null ? null : kv.tensors;
    }

    /**
     * Takes ownership of the graph's {@code present} outputs as the new KV block (appending {@code lq} slots whose
     * validity is {@code newValid}) and releases the previous block, which the finished run no longer needs.
     */
    void append(OnnxTensor[] presents, boolean[][] newValid, int lq) {
        KvBlock previous = kv;
        kv = new KvBlock(presents);
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < lq; j++) {
                if (newValid == null || newValid[b][j]) {
                    valid[b].set(length + j);
                    validCount[b]++;
                }
            }
        }
        length += lq;
        if (previous != null) {
            previous.release();
        }
    }

    /**
     * Takes the graph's {@code present} outputs of a forward that read this state ({@code length} slots) and fed
     * {@code slots.length} new tokens, and keeps the state's length: new token j's keys and values replace slot
     * {@code slots[j]}, every other slot keeps its cached entry (copied through Java memory, as the rare state edits
     * are). Records the written slots' validity from {@code newValid} (null: all valid). Frees the presents.
     */
    void writeAt(OnnxTensor[] presents, int[] slots, boolean[][] newValid) {
        KvBlock written = new KvBlock(presents);
        try {
            int[] slotMap = new int[length];
            for (int s = 0; s < length; s++) {
                slotMap[s] = s;
            }
            for (int j = 0; j < slots.length; j++) {
                slotMap[slots[j]] = length + j;
            }
            KvBlock next = KvBlock.gather(owner.environment(), owner.signature(), written, batch,
                    length + slots.length, identityRows(), slotMap);
            if (kv != null) {
                kv.release();
            }
            kv = next;
        } catch (OrtException e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "writing the KV cache of '"
                    + owner.card().name() + "' at given slots failed: " + e.getMessage(), e);
        } finally {
            written.release();
        }
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < slots.length; j++) {
                boolean now = newValid == null || newValid[b][j];
                if (valid[b].get(slots[j]) != now) {
                    valid[b].set(slots[j], now);
                    validCount[b] += now ? 1 : -1;
                }
            }
        }
    }

    @Override
    public void truncate(int newLength) {
        ensureOpen("truncate");
        if (newLength < 0 || newLength > length) {
            throw ArborException.invalid("truncate(" + newLength + ") is outside [0, " + length + "], the state's "
                    + "current length");
        }
        if (newLength == length) {
            return;
        }
        int[] slots = new int[newLength];
        for (int i = 0; i < newLength; i++) {
            slots[i] = i;
        }
        rebuild(identityRows(), slots, "truncate");
    }

    @Override
    public void compact(int[] keepSlots) {
        ensureOpen("compact");
        for (int i = 0; i < keepSlots.length; i++) {
            if (keepSlots[i] < 0 || keepSlots[i] >= length || (i > 0 && keepSlots[i] <= keepSlots[i - 1])) {
                throw ArborException.invalid("compact: keepSlots must be strictly ascending slots in [0, " + length
                        + "), got " + java.util.Arrays.toString(keepSlots));
            }
        }
        if (keepSlots.length == length) {
            return;
        }
        rebuild(identityRows(), keepSlots.clone(), "compact");
    }

    @Override
    public DecodeState fork() {
        ensureOpen("fork");
        return new OnnxDecodeState(this);
    }

    @Override
    public void selectRows(int[] sourceRows) {
        ensureOpen("selectRows");
        if (sourceRows.length == 0) {
            throw ArborException.invalid("selectRows: at least one row must remain");
        }
        boolean identity = sourceRows.length == batch;
        for (int i = 0; i < sourceRows.length; i++) {
            if (sourceRows[i] < 0 || sourceRows[i] >= batch) {
                throw ArborException.invalid("selectRows: row " + sourceRows[i] + " is outside [0, " + batch + ")");
            }
            identity &= sourceRows[i] == i;
        }
        if (identity) {
            return;
        }
        int[] slots = new int[length];
        for (int i = 0; i < length; i++) {
            slots[i] = i;
        }
        rebuild(sourceRows.clone(), slots, "selectRows");
    }

    private int[] identityRows() {
        int[] rows = new int[batch];
        for (int b = 0; b < batch; b++) {
            rows[b] = b;
        }
        return rows;
    }

    /** Replaces the KV block and validity bits by the rows and slots selected (copies through Java memory). */
    private void rebuild(int[] rows, int[] slots, String op) {
        KvBlock next = null;
        if (kv != null && slots.length > 0) {
            try {
                next = KvBlock.gather(owner.environment(), owner.signature(), kv, batch, length, rows, slots);
            } catch (OrtException e) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, op + " of the KV cache of '"
                        + owner.card().name() + "' failed: " + e.getMessage(), e);
            }
        }
        BitSet[] nextValid = new BitSet[rows.length];
        int[] nextCount = new int[rows.length];
        for (int b = 0; b < rows.length; b++) {
            nextValid[b] = new BitSet();
            for (int j = 0; j < slots.length; j++) {
                if (valid[rows[b]].get(slots[j])) {
                    nextValid[b].set(j);
                    nextCount[b]++;
                }
            }
        }
        if (kv != null) {
            kv.release();
        }
        kv = next;
        valid = nextValid;
        validCount = nextCount;
        batch = rows.length;
        length = slots.length;
    }

    private void ensureOpen(String op) {
        if (closed) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, op + " on a closed decode state of '"
                    + owner.card().name() + "'");
        }
    }

    boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        scratch.close();
        if (kv != null) {
            kv.release();
            kv = null;
        }
    }
}
