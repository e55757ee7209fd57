package dev.arbor.backend.support;

import dev.arbor.api.ArborException;
import java.util.Arrays;
import java.util.BitSet;

/**
 * The bookkeeping of a {@link dev.arbor.api.model.DecodeState} that does not depend on where its tensors live: its
 * rows, its length in slots, and per row which slots hold real tokens rather than left padding (padding slots stay
 * in the state, hidden from every query, and do not count towards default positions). A row/slot edit is planned
 * here ({@link #truncation}, {@link #compaction}, {@link #rowSelection}: argument checks with the messages users see,
 * null for a no-op), the backend gathers its tensors by the plan's rows then slots, and {@link #apply} then
 * renumbers the validity. Not thread-safe: one request owns a state.
 */
public final class StateSlots {
    private int batch;
    private int length;
    private BitSet[] valid;
    private int[] validCount;

    /**
     * An edit of a state: new row {@code i} is old row {@code rows[i]}, new slot {@code j} is old slot
     * {@code slots[j]}.
     */
    public record Edit(int[] rows, int[] slots) {
    }

    /** An empty state of {@code batch} rows. */
    public StateSlots(int batch) {
        this.batch = batch;
        this.valid = new BitSet[batch];
        this.validCount = new int[batch];
        for (int b = 0; b < batch; b++) {
            valid[b] = new BitSet();
        }
    }

    /** An independent copy (for {@code DecodeState.fork}). */
    public StateSlots copy() {
        StateSlots copy = new StateSlots(batch);
        copy.length = length;
        copy.validCount = validCount.clone();
        for (int b = 0; b < batch; b++) {
            copy.valid[b] = (BitSet) valid[b].clone();
        }
        return copy;
    }

    public int batchSize() {
        return batch;
    }

    public int length() {
        return length;
    }

    /** True when slot {@code slot} of row {@code row} holds a real token. */
    public boolean isValid(int row, int slot) {
        return valid[row].get(slot);
    }

    /** Real (non-padding) tokens held by {@code row}: the default position of its next token. */
    public int validCount(int row) {
        return validCount[row];
    }

    /** True when no slot of any row is padding. */
    public boolean allValid() {
        for (int b = 0; b < batch; b++) {
            if (validCount[b] != length) {
                return false;
            }
        }
        return true;
    }

    /** Appends {@code count} slots to every row; {@code newValid[row][j]} says which are real (null: all). */
    public void append(boolean[][] newValid, int count) {
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < count; j++) {
                if (newValid == null || newValid[b][j]) {
                    valid[b].set(length + j);
                    validCount[b]++;
                }
            }
        }
        length += count;
    }

    /** Records the validity of existing {@code slots} a forward overwrote in place (null {@code newValid}: all). */
    public void markWritten(int[] slots, boolean[][] newValid) {
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

    /** The edit keeping the first {@code newLength} slots of every row, or null when it keeps them all. */
    public Edit truncation(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw ArborException.invalid("truncate(" + newLength + ") is outside [0, " + length + "], the state's "
                    + "current length");
        }
        return newLength == length ? null : new Edit(identity(batch), identity(newLength));
    }

    /** The edit keeping only {@code keepSlots} (strictly ascending) in every row, or null when it keeps them all. */
    public Edit compaction(int[] keepSlots) {
        for (int i = 0; i < keepSlots.length; i++) {
            if (keepSlots[i] < 0 || keepSlots[i] >= length || (i > 0 && keepSlots[i] <= keepSlots[i - 1])) {
                throw ArborException.invalid("compact: keepSlots must be strictly ascending slots in [0, " + length
                        + "), got " + Arrays.toString(keepSlots));
            }
        }
        return keepSlots.length == length ? null : new Edit(identity(batch), keepSlots.clone());
    }

    /** The edit making new row i a copy of old row {@code sourceRows[i]}, or null when it changes nothing. */
    public Edit rowSelection(int[] sourceRows) {
        if (sourceRows.length == 0) {
            throw ArborException.invalid("selectRows: at least one row must remain");
        }
        boolean same = sourceRows.length == batch;
        for (int i = 0; i < sourceRows.length; i++) {
            if (sourceRows[i] < 0 || sourceRows[i] >= batch) {
                throw ArborException.invalid("selectRows: row " + sourceRows[i] + " is outside [0, " + batch + ")");
            }
            same &= sourceRows[i] == i;
        }
        return same ? null : new Edit(sourceRows.clone(), identity(length));
    }

    /** Renumbers rows, slots and validity after the backend applied {@code edit} to its tensors. */
    public void apply(Edit edit) {
        int[] rows = edit.rows();
        int[] slots = edit.slots();
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
        valid = nextValid;
        validCount = nextCount;
        batch = rows.length;
        length = slots.length;
    }

    private static int[] identity(int n) {
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = i;
        }
        return out;
    }
}
