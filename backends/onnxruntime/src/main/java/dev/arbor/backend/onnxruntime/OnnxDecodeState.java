package dev.arbor.backend.onnxruntime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtException;
import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import dev.arbor.backend.support.StateSlots;

/**
 * The KV cache of one request: the current {@link KvBlock} (null while empty), its length in slots, and per row
 * which slots hold real tokens rather than left padding. Padding slots stay in the cache (every row has the same
 * length) but are hidden from every query through {@code attention_mask}/{@code attention_bias}, and they do not
 * count towards default position ids. Not thread-safe: one request owns it (see {@link DecodeState}).
 */
final class OnnxDecodeState implements DecodeState {
    private final OnnxDecoderBackend owner;
    private final StateSlots slots;
    private KvBlock kv;
    private boolean closed;
    private final Scratch scratch = new Scratch();

    OnnxDecodeState(OnnxDecoderBackend owner, int batch) {
        this.owner = owner;
        this.slots = new StateSlots(batch);
    }

    private OnnxDecodeState(OnnxDecodeState from) {
        this.owner = from.owner;
        this.slots = from.slots.copy();
        this.kv = from.kv == null ? null : from.kv.retain();
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
        return slots.batchSize();
    }

    @Override
    public int length() {
        return slots.length();
    }

    /** True when slot {@code slot} of row {@code row} holds a real token. */
    boolean slotValid(int row, int slot) {
        return slots.isValid(row, slot);
    }

    /** Real (non-padding) tokens held by {@code row}: the default position of its next token. */
    int validCount(int row) {
        return slots.validCount(row);
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
        slots.append(newValid, lq);
        if (previous != null) {
            previous.release();
        }
    }

    /**
     * Takes the graph's {@code present} outputs of a forward that read this state ({@code length} slots) and fed
     * {@code written.length} new tokens, and keeps the state's length: new token j's keys and values replace slot
     * {@code written[j]}, every other slot keeps its cached entry (copied through Java memory, as the rare state edits
     * are). Records the written slots' validity from {@code newValid} (null: all valid). Frees the presents.
     */
    void writeAt(OnnxTensor[] presents, int[] written, boolean[][] newValid) {
        int length = slots.length();
        KvBlock fresh = new KvBlock(presents);
        try {
            int[] slotMap = new int[length];
            for (int s = 0; s < length; s++) {
                slotMap[s] = s;
            }
            for (int j = 0; j < written.length; j++) {
                slotMap[written[j]] = length + j;
            }
            int[] rows = new int[slots.batchSize()];
            for (int b = 0; b < rows.length; b++) {
                rows[b] = b;
            }
            KvBlock next = KvBlock.gather(owner.environment(), owner.signature(), fresh, rows.length,
                    length + written.length, rows, slotMap);
            if (kv != null) {
                kv.release();
            }
            kv = next;
        } catch (OrtException e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "writing the KV cache of '"
                    + owner.card().name() + "' at given slots failed: " + e.getMessage(), e);
        } finally {
            fresh.release();
        }
        slots.markWritten(written, newValid);
    }

    @Override
    public void truncate(int newLength) {
        ensureOpen("truncate");
        rebuild(slots.truncation(newLength), "truncate");
    }

    @Override
    public void compact(int[] keepSlots) {
        ensureOpen("compact");
        rebuild(slots.compaction(keepSlots), "compact");
    }

    @Override
    public DecodeState fork() {
        ensureOpen("fork");
        return new OnnxDecodeState(this);
    }

    @Override
    public void selectRows(int[] sourceRows) {
        ensureOpen("selectRows");
        rebuild(slots.rowSelection(sourceRows), "selectRows");
    }

    /** Replaces the KV block by the rows and slots {@code edit} selects (copies through Java memory); null: none. */
    private void rebuild(StateSlots.Edit edit, String op) {
        if (edit == null) {
            return;
        }
        KvBlock next = null;
        if (kv != null && edit.slots().length > 0) {
            try {
                next = KvBlock.gather(owner.environment(), owner.signature(), kv, slots.batchSize(), slots.length(),
                        edit.rows(), edit.slots());
            } catch (OrtException e) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, op + " of the KV cache of '"
                        + owner.card().name() + "' failed: " + e.getMessage(), e);
            }
        }
        if (kv != null) {
            kv.release();
        }
        kv = next;
        slots.apply(edit);
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
