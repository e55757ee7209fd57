package dev.arbor.backend.onnxruntime;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import java.util.Arrays;

/**
 * The decode state of a fused model: a contiguous run of rows of the model's {@link KvArena} and one length shared
 * by those rows (fused graphs take no padding, so every row holds real tokens only). Forwards write the arena in
 * place; {@link #truncate} only moves the length (the next forward overwrites the slots behind it), and fork,
 * selectRows and compact copy rows or slots inside the arena. Not thread-safe: one request owns it.
 */
final class FusedDecodeState implements DecodeState {
    private final FusedDecoder owner;
    private final KvArena arena;
    private int first;
    private int batch;
    private volatile int length;
    private boolean closed;
    /** This state's reusable input tensors when its forwards run unbatched (created on first use). */
    FusedDecoder.RunBuffers scratch;

    FusedDecodeState(FusedDecoder owner, KvArena arena, int batch) {
        this.owner = owner;
        this.arena = arena;
        this.first = arena.allocate(batch);
        this.batch = batch;
    }

    FusedDecoder owner() {
        return owner;
    }

    /** The first arena row of this state; its rows are first..first+batchSize-1. */
    int firstRow() {
        return first;
    }

    @Override
    public int batchSize() {
        return batch;
    }

    @Override
    public int length() {
        return length;
    }

    boolean isClosed() {
        return closed;
    }

    /** Records that a forward wrote {@code n} slots after the current ones. */
    void advance(int n) {
        setLength(length + n);
    }

    private void setLength(int n) {
        length = n;
        for (int b = 0; b < batch; b++) {
            arena.setLength(first + b, n);
        }
    }

    @Override
    public void truncate(int newLength) {
        ensureOpen("truncate");
        if (newLength < 0 || newLength > length) {
            throw ArborException.invalid("truncate(" + newLength + ") is outside [0, " + length + "], the state's "
                    + "current length");
        }
        setLength(newLength);
    }

    @Override
    public void compact(int[] keepSlots) {
        ensureOpen("compact");
        for (int i = 0; i < keepSlots.length; i++) {
            if (keepSlots[i] < 0 || keepSlots[i] >= length || (i > 0 && keepSlots[i] <= keepSlots[i - 1])) {
                throw ArborException.invalid("compact: keepSlots must be strictly ascending slots in [0, " + length
                        + "), got " + Arrays.toString(keepSlots));
            }
        }
        if (keepSlots.length == length) {
            return;
        }
        int[] keep = keepSlots.clone();
        arena.exclusive(() -> {
            for (int b = 0; b < batch; b++) {
                arena.compactRow(first + b, keep);
            }
        });
        setLength(keep.length);
    }

    @Override
    public DecodeState fork() {
        ensureOpen("fork");
        FusedDecodeState copy = new FusedDecodeState(owner, arena, batch);
        arena.exclusive(() -> {
            for (int b = 0; b < batch; b++) {
                arena.copyRow(first + b, copy.first + b, length);
            }
            // Still exclusive: until the copy's rows show their length, a batched run covering them would take them
            // for empty rows and write its dummy keys into slot 0, over the keys just copied.
            copy.setLength(length);
        });
        return copy;
    }

    @Override
    public void selectRows(int[] sourceRows) {
        ensureOpen("selectRows");
        if (sourceRows.length == 0) {
            throw ArborException.invalid("selectRows: at least one row must remain");
        }
        boolean ascending = true;
        boolean identity = sourceRows.length == batch;
        for (int i = 0; i < sourceRows.length; i++) {
            if (sourceRows[i] < 0 || sourceRows[i] >= batch) {
                throw ArborException.invalid("selectRows: row " + sourceRows[i] + " is outside [0, " + batch + ")");
            }
            identity &= sourceRows[i] == i;
            ascending &= i == 0 || sourceRows[i] > sourceRows[i - 1];
        }
        if (identity) {
            return;
        }
        int[] src = sourceRows.clone();
        int n = length;
        if (ascending) {
            // A subset in order (dropping rows): row src[i] >= i moves down in place, the tail is freed.
            arena.exclusive(() -> {
                for (int i = 0; i < src.length; i++) {
                    arena.copyRow(first + src[i], first + i, n);
                }
            });
            arena.free(first + src.length, batch - src.length);
            batch = src.length;
        } else {
            // Reordered or repeated rows: build them in fresh rows, then let the old ones go.
            int target = arena.allocate(src.length);
            int from = first;
            arena.exclusive(() -> {
                for (int i = 0; i < src.length; i++) {
                    arena.copyRow(from + src[i], target + i, n);
                    arena.setLength(target + i, n); // as in fork: before any run can cover the new rows
                }
            });
            arena.free(first, batch);
            first = target;
            batch = src.length;
        }
        setLength(n);
    }

    private void ensureOpen(String op) {
        if (closed) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, op + " on a closed decode state of '"
                    + owner.modelName() + "'");
        }
    }

    /** Returns the rows to the arena. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        arena.free(first, batch);
        if (scratch != null) {
            scratch.close();
            scratch = null;
        }
    }
}
