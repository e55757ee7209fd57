package dev.arbor.backend.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import dev.arbor.backend.support.StateSlots;
import java.util.ArrayList;
import java.util.List;

/**
 * The KV cache of one request as PyTorch tensors: per layer a key and a value tensor {@code [B, kvHeads, S, hs]}
 * (null while empty), owned by this state's own {@link NDManager} so that closing the state frees exactly its
 * memory, plus per row which slots hold real tokens rather than left padding (padding slots stay, hidden from every
 * query by the attention bias, and do not count towards default positions). State edits slice and concatenate on
 * the native side; nothing is copied through Java. After a batched decode run the state may instead hold a row of
 * the batch's tensors ({@link SharedKv}), taken as its own view the first time anything else needs its tensors.
 * Not thread-safe: one request owns it.
 */
final class DjlDecodeState implements DecodeState {
    private final DjlDecoderBackend owner;
    private final NDManager manager;
    private StateSlots slots;
    private NDList kv;
    /** When not null, the KV is row {@link #sharedRow} of these batch tensors and {@link #kv} is null. */
    private SharedKv shared;
    private int sharedRow;
    private boolean closed;

    DjlDecodeState(DjlDecoderBackend owner, NDManager manager, int batch) {
        this.owner = owner;
        this.manager = manager;
        this.slots = new StateSlots(batch);
    }

    DjlDecoderBackend owner() {
        return owner;
    }

    NDManager manager() {
        return manager;
    }

    @Override
    public int batchSize() {
        return slots.batchSize();
    }

    @Override
    public int length() {
        return slots.length();
    }

    boolean slotValid(int row, int slot) {
        return slots.isValid(row, slot);
    }

    /** True when no slot of any row is padding. */
    boolean allSlotsValid() {
        return slots.allValid();
    }

    int validCount(int row) {
        return slots.validCount(row);
    }

    /** The past tensors (key, value per layer), or null while the state is empty. */
    NDList kv() {
        ensureOpen("forward");
        ownKv();
        return kv;
    }

    /** The batch tensors this state holds a row of, or null when it holds its own tensors. */
    SharedKv shared() {
        return shared;
    }

    /** This state's row in {@link #shared()}. */
    int sharedRow() {
        return sharedRow;
    }

    /** Replaces a row of batch tensors by views of it that this state owns. */
    private void ownKv() {
        if (shared != null) {
            kv = shared.row(sharedRow, manager);
            shared.release();
            shared = null;
        }
    }

    /** Takes the network's present tensors (moved into this state's manager) and frees the previous ones. */
    void append(NDList presents, boolean[][] newValid, int lq) {
        for (NDArray p : presents) {
            p.attach(manager);
        }
        releaseKv();
        kv = presents;
        slots.append(newValid, lq);
    }

    /** After a batched run: the state's KV is now row {@code row} of {@code batch} (one new valid token). */
    void appendShared(SharedKv batchKv, int row) {
        releaseKv();
        shared = batchKv;
        sharedRow = row;
        slots.append(null, 1);
    }

    /** Frees this state's own tensors, or lets go of its batch row. */
    private void releaseKv() {
        if (shared != null) {
            shared.release();
            shared = null;
        }
        if (kv != null) {
            kv.close();
            kv = null;
        }
    }

    /** Records the validity of slots a {@code StateWrite.At} forward overwrote (their tensors are already set). */
    void markWritten(int[] written, boolean[][] newValid) {
        slots.markWritten(written, newValid);
    }

    @Override
    public void truncate(int newLength) {
        ensureOpen("truncate");
        rebuild(slots.truncation(newLength));
    }

    @Override
    public void compact(int[] keepSlots) {
        ensureOpen("compact");
        rebuild(slots.compaction(keepSlots));
    }

    @Override
    public DecodeState fork() {
        ensureOpen("fork");
        ownKv();
        DjlDecodeState copy = owner.newStateFor(slots.batchSize());
        copy.slots = slots.copy();
        if (kv != null) {
            copy.kv = new NDList(kv.size());
            for (NDArray a : kv) {
                NDArray d = a.duplicate();
                d.attach(copy.manager);
                copy.kv.add(d);
            }
        }
        return copy;
    }

    @Override
    public void selectRows(int[] sourceRows) {
        ensureOpen("selectRows");
        rebuild(slots.rowSelection(sourceRows));
    }

    /** Replaces the KV tensors by the rows and slots {@code edit} selects; null: nothing to change. */
    private void rebuild(StateSlots.Edit edit) {
        if (edit == null) {
            return;
        }
        ownKv();
        NDList next = null;
        if (kv != null && edit.slots().length > 0) {
            next = new NDList(kv.size());
            try (NDManager scratch = manager.newSubManager()) {
                for (NDArray a : kv) {
                    NDArray r = gather(gather(a, edit.rows(), 0, scratch), edit.slots(), 2, scratch);
                    NDArray kept = r.duplicate(); // a compact copy, not a view pinning the old storage
                    kept.attach(manager);
                    next.add(kept);
                }
            }
        }
        if (kv != null) {
            kv.close();
        }
        kv = next;
        slots.apply(edit);
    }

    /** {@code a} restricted to {@code index} along {@code axis}: one slice per run of consecutive indices. */
    private static NDArray gather(NDArray a, int[] index, int axis, NDManager scratch) {
        List<NDArray> parts = new ArrayList<>();
        int i = 0;
        while (i < index.length) {
            int j = i + 1;
            while (j < index.length && index[j] == index[j - 1] + 1) {
                j++;
            }
            String prefix = axis == 0 ? "" : ":, ".repeat(axis);
            NDArray part = a.get(scratch, new NDIndex(prefix + index[i] + ":" + (index[j - 1] + 1)));
            parts.add(part);
            i = j;
        }
        if (parts.size() == 1) {
            return parts.get(0);
        }
        NDArray joined = NDArrays.concat(new NDList(parts), axis);
        joined.attach(scratch);
        return joined;
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

    /** Frees this state's tensors (its manager); idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (shared != null) {
            shared.release();
            shared = null;
        }
        kv = null;
        manager.close();
    }
}
