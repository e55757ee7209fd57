package dev.arbor.backend.onnxruntime;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import dev.arbor.api.ArborException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The KV cache of every decode state of one fused model, preallocated and written in place: one direct, native-order
 * buffer per past input of the graph, laid out [rows, kv_heads, slots, head_dim] where {@code slots} is the model's
 * context. A decode state owns a contiguous run of rows ({@link #allocate}); a forward over rows r0..r0+n-1 feeds
 * the same {@link #view} tensors (zero-copy slices of the buffers) as past input and as pinned present output, so
 * GroupQueryAttention appends each new token's keys and values into the arena itself and nothing is allocated per
 * token. Because neighbouring rows are contiguous, the forwards of several states run as one batch over a slice.
 *
 * <p>The arena starts small and doubles up to {@code maxRows} (option {@code max_batch_rows}); beyond that
 * {@link #allocate} refuses with an error naming the option.
 *
 * <p>Locking: forwards hold {@link #runLock()} (shared) while ONNX Runtime reads and writes the buffers; growth and
 * the row/slot copies of state edits take the exclusive side, so they never overlap a run (a batched run also writes
 * a harmless entry past the valid slots of rows it covers but does not serve, see {@link #length}).
 */
final class KvArena implements AutoCloseable {
    private final OrtEnvironment env;
    private final DecoderSignature sig;
    private final String model;
    private final int slots;
    private final int maxRows;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    /** Slots in use per row: what a run covering a row it does not serve must not overwrite. */
    private final AtomicIntegerArray lengths;
    private final boolean[] used;
    private ByteBuffer[] buffers;
    private int rows;
    /** Views by {@code r0 * (maxRows + 1) + n}, created on first use and dropped when the arena grows. */
    private AtomicReferenceArray<OnnxTensor[]> views;
    private boolean closed;

    KvArena(OrtEnvironment env, DecoderSignature sig, String model, int slots, int initialRows, int maxRows) {
        this.env = env;
        this.sig = sig;
        this.model = model;
        this.slots = slots;
        this.maxRows = maxRows;
        long rowBytes = rowFloats() * Float.BYTES;
        if (rowBytes * maxRows > Integer.MAX_VALUE - 8) {
            throw ArborException.invalid("max_batch_rows=" + maxRows + " needs " + (rowBytes * maxRows >> 20)
                    + " MiB per KV tensor of '" + model + "', over the 2 GiB a buffer can hold; lower max_batch_rows");
        }
        this.lengths = new AtomicIntegerArray(maxRows);
        this.used = new boolean[maxRows];
        this.views = new AtomicReferenceArray<>(maxRows * (maxRows + 1));
        this.buffers = new ByteBuffer[sig.pastNames.length];
        resize(Math.min(Math.max(1, initialRows), maxRows));
    }

    /** Floats of one row of one KV tensor. */
    private long rowFloats() {
        return (long) sig.kvHeads * slots * sig.headDim;
    }

    /** Capacity of a row in slots (the model's context). */
    int slots() {
        return slots;
    }

    /** Held (shared) by a forward while ONNX Runtime uses the buffers. */
    Lock runLock() {
        return lock.readLock();
    }

    /** Slots in use in {@code row}. */
    int length(int row) {
        return lengths.get(row);
    }

    void setLength(int row, int length) {
        lengths.set(row, length);
    }

    /**
     * The first of {@code n} contiguous free rows, now owned by the caller; grows the arena when needed.
     *
     * @throws ArborException UNAVAILABLE when {@code max_batch_rows} rows would not suffice
     */
    int allocate(int n) {
        Lock w = lock.writeLock();
        w.lock();
        try {
            ensureOpen();
            while (true) {
                int run = 0;
                for (int r = 0; r < rows; r++) {
                    run = used[r] ? 0 : run + 1;
                    if (run == n) {
                        int first = r - n + 1;
                        for (int i = first; i <= r; i++) {
                            used[i] = true;
                            lengths.set(i, 0);
                        }
                        return first;
                    }
                }
                if (rows == maxRows) {
                    int free = 0;
                    for (int r = 0; r < rows; r++) {
                        free += used[r] ? 0 : 1;
                    }
                    throw new ArborException(ArborException.Kind.UNAVAILABLE, "the KV arena of '" + model
                            + "' cannot hold " + n + " more row(s): " + (rows - free) + " of its " + maxRows
                            + " rows (option max_batch_rows) are held by open decode states"
                            + (free >= n ? " and the free ones are not contiguous" : "")
                            + "; close finished states or raise max_batch_rows");
                }
                resize(Math.min(maxRows, Math.max(rows * 2, rows + n)));
            }
        } finally {
            w.unlock();
        }
    }

    /** Returns rows {@code first..first+n-1} to the arena. */
    void free(int first, int n) {
        Lock w = lock.writeLock();
        w.lock();
        try {
            for (int r = first; r < first + n; r++) {
                used[r] = false;
                lengths.set(r, 0);
            }
        } finally {
            w.unlock();
        }
    }

    /** The past/present tensors (aligned with {@link DecoderSignature#pastNames}) over rows r0..r0+n-1. */
    OnnxTensor[] view(int r0, int n) throws OrtException {
        int key = r0 * (maxRows + 1) + n;
        OnnxTensor[] v = views.get(key);
        if (v != null) {
            return v;
        }
        v = new OnnxTensor[buffers.length];
        long[] shape = sig.kvShape(n, slots);
        int bytes = (int) (n * rowFloats() * Float.BYTES);
        int offset = (int) (r0 * rowFloats() * Float.BYTES);
        try {
            for (int i = 0; i < v.length; i++) {
                ByteBuffer slice = buffers[i].slice(offset, bytes).order(ByteOrder.nativeOrder());
                v[i] = OnnxTensor.createTensor(env, slice.asFloatBuffer(), shape);
            }
        } catch (OrtException | RuntimeException e) {
            KvBlock.closeAll(v);
            throw e;
        }
        if (!views.compareAndSet(key, null, v)) {
            KvBlock.closeAll(v); // another run created it first
            return views.get(key);
        }
        return v;
    }

    /** Copies slots 0..n-1 of row {@code from} into row {@code to}, in every KV tensor (exclusive). */
    void copyRow(int from, int to, int n) {
        if (from == to || n == 0) {
            return;
        }
        int headBytes = slots * sig.headDim * Float.BYTES;
        int len = n * sig.headDim * Float.BYTES;
        for (ByteBuffer b : buffers) {
            for (int h = 0; h < sig.kvHeads; h++) {
                b.put((to * sig.kvHeads + h) * headBytes, b, (from * sig.kvHeads + h) * headBytes, len);
            }
        }
    }

    /** Moves slot {@code keep[j]} to slot j of {@code row} (keep strictly ascending, so moves never clobber). */
    void compactRow(int row, int[] keep) {
        int headBytes = slots * sig.headDim * Float.BYTES;
        int slotBytes = sig.headDim * Float.BYTES;
        for (ByteBuffer b : buffers) {
            for (int h = 0; h < sig.kvHeads; h++) {
                int base = (row * sig.kvHeads + h) * headBytes;
                for (int j = 0; j < keep.length; j++) {
                    if (keep[j] != j) {
                        b.put(base + j * slotBytes, b, base + keep[j] * slotBytes, slotBytes);
                    }
                }
            }
        }
    }

    /** Runs {@code edit} with the arena to itself (no forward in flight). */
    void exclusive(Runnable edit) {
        Lock w = lock.writeLock();
        w.lock();
        try {
            ensureOpen();
            edit.run();
        } finally {
            w.unlock();
        }
    }

    /** One float of KV tensor {@code tensor} (for tests and diagnostics). */
    float read(int tensor, int row, int head, int slot, int d) {
        Lock r = lock.readLock();
        r.lock();
        try {
            return buffers[tensor].getFloat((int) ((((long) row * sig.kvHeads + head) * slots + slot) * sig.headDim + d)
                    * Float.BYTES);
        } finally {
            r.unlock();
        }
    }

    /** Rows currently allocated for the arena (grows on demand up to max_batch_rows). */
    int capacityRows() {
        return rows;
    }

    private void resize(int newRows) {
        long newBytes = newRows * rowFloats() * Float.BYTES;
        for (int i = 0; i < buffers.length; i++) {
            ByteBuffer next = ByteBuffer.allocateDirect((int) newBytes).order(ByteOrder.nativeOrder());
            if (buffers[i] != null) {
                next.put(0, buffers[i], 0, buffers[i].capacity());
            }
            buffers[i] = next;
        }
        rows = newRows;
        dropViews();
    }

    private void dropViews() {
        for (int i = 0; i < views.length(); i++) {
            OnnxTensor[] v = views.getAndSet(i, null);
            if (v != null) {
                KvBlock.closeAll(v);
            }
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "the KV arena of '" + model + "' was closed");
        }
    }

    /** Frees the views; the buffers go with the garbage collector. Waits for runs in flight. */
    @Override
    public void close() {
        Lock w = lock.writeLock();
        w.lock();
        try {
            closed = true;
            dropViews();
        } finally {
            w.unlock();
        }
    }
}
