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
 *
 * <p>For a hybrid graph it also holds the convolution state ({@link ConvBlock}, null while empty: the forward feeds
 * zeros). That state summarises every token fed, so {@link #truncate} and {@link #compact} refuse any edit that
 * drops a slot, as onnxruntime-genai's LFM2 state refuses {@code RewindTo}; {@link #fork} shares it and
 * {@link #selectRows} copies its rows, so beam search, guidance twins and batches work.
 */
final class OnnxDecodeState implements DecodeState {
    private final OnnxDecoderBackend owner;
    private final StateSlots slots;
    private KvBlock kv;
    /** The convolution state of a hybrid graph; null while empty or when the graph has none. */
    private ConvBlock conv;
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
        this.conv = from.conv == null ? null : from.conv.retain();
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

    /** The convolution-state tensors to feed, aligned with the graph's past_conv inputs, or null while empty. */
    OnnxTensor[] convTensors() {
        ensureOpen("forward");
        return conv == null ? null : conv.tensors;
    }

    /** Takes ownership of the graph's {@code present_conv} outputs as the new convolution state. */
    void replaceConv(OnnxTensor[] presents) {
        ConvBlock previous = conv;
        conv = new ConvBlock(presents);
        if (previous != null) {
            previous.release();
        }
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
        StateSlots.Edit edit = slots.truncation(newLength);
        if (edit != null && owner.signature().hasConvState()) {
            throw cannotRewind("truncate(" + newLength + ")");
        }
        rebuild(edit, "truncate");
    }

    @Override
    public void compact(int[] keepSlots) {
        ensureOpen("compact");
        StateSlots.Edit edit = slots.compaction(keepSlots);
        if (edit != null && owner.signature().hasConvState()) {
            throw cannotRewind("compact to " + keepSlots.length + " of " + length() + " slots");
        }
        rebuild(edit, "compact");
    }

    /**
     * The refusal of an edit that drops slots of a state with convolution state. Keeping the first slots of the KV
     * cache would leave the convolution window at the end of the dropped tokens, so the next forward would run on a
     * history the caller no longer holds; onnxruntime-genai refuses RewindTo for LFM2 for the same reason. Refused
     * even for a rewind to 0, as there: a fresh state is what newState gives.
     */
    private ArborException cannotRewind(String op) {
        return new ArborException(ArborException.Kind.INCOMPATIBLE, op + " on a decode state of '"
                + owner.card().name() + "' (length " + length() + ") is not possible: its convolution state ("
                + String.join(", ", owner.signature().convPastNames) + ") summarises every token fed so far and "
                + "cannot be rewound, so the model lists neither STATE_TRUNCATE nor STATE_COMPACT. Keep a fork() "
                + "of the state from before the tokens you may drop, or start a new state with newState() and feed "
                + "again the tokens to keep.");
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
        ConvBlock nextConv = null;
        if (conv != null) {
            try {
                nextConv = ConvBlock.gather(owner.environment(), owner.signature(), conv, slots.batchSize(),
                        edit.rows());
            } catch (OrtException e) {
                if (next != null) {
                    next.release();
                }
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, op + " of the convolution state of '"
                        + owner.card().name() + "' failed: " + e.getMessage(), e);
            }
            conv.release();
        }
        conv = nextConv;
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
        if (conv != null) {
            conv.release();
            conv = null;
        }
    }
}
