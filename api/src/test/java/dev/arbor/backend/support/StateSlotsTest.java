package dev.arbor.backend.support;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import org.junit.jupiter.api.Test;

class StateSlotsTest {

    /** Two rows of five slots; row 1 starts with two padding slots (left padding). */
    private static StateSlots padded() {
        StateSlots s = new StateSlots(2);
        s.append(new boolean[][] {{true, true, true}, {false, false, true}}, 3);
        s.append(null, 2);
        return s;
    }

    private static String row(StateSlots s, int row) {
        StringBuilder out = new StringBuilder();
        for (int j = 0; j < s.length(); j++) {
            out.append(s.isValid(row, j) ? 'x' : '.');
        }
        return out.toString();
    }

    @Test
    void appendRecordsValidityAndCountsRealTokensPerRow() {
        StateSlots s = padded();
        assertThat(s.batchSize()).isEqualTo(2);
        assertThat(s.length()).isEqualTo(5);
        assertThat(row(s, 0)).isEqualTo("xxxxx");
        assertThat(row(s, 1)).isEqualTo("..xxx");
        assertThat(s.validCount(0)).isEqualTo(5);
        assertThat(s.validCount(1)).isEqualTo(3);
        assertThat(s.allValid()).isFalse();
        StateSlots plain = new StateSlots(1);
        plain.append(null, 4);
        assertThat(plain.allValid()).isTrue();
    }

    @Test
    void truncationKeepsTheFirstSlotsOfEveryRow() {
        StateSlots s = padded();
        StateSlots.Edit edit = s.truncation(2);
        assertThat(edit.rows()).containsExactly(0, 1);
        assertThat(edit.slots()).containsExactly(0, 1);
        s.apply(edit);
        assertThat(s.length()).isEqualTo(2);
        assertThat(row(s, 1)).isEqualTo("..");
        assertThat(s.validCount(1)).isZero();
        assertThat(s.truncation(2)).as("keeping every slot is a no-op").isNull();
        assertThatThrownBy(() -> s.truncation(3)).isInstanceOf(ArborException.class)
                .hasMessageContaining("truncate(3) is outside [0, 2]");
        assertThatThrownBy(() -> s.truncation(-1)).hasMessageContaining("truncate(-1)");
    }

    @Test
    void compactionRenumbersTheKeptSlots() {
        StateSlots s = padded();
        StateSlots.Edit edit = s.compaction(new int[] {1, 2, 4});
        assertThat(edit.slots()).containsExactly(1, 2, 4);
        s.apply(edit);
        assertThat(row(s, 0)).isEqualTo("xxx");
        assertThat(row(s, 1)).isEqualTo(".xx");
        assertThat(s.validCount(1)).isEqualTo(2);
        assertThat(s.compaction(new int[] {0, 1, 2})).isNull();
        assertThatThrownBy(() -> s.compaction(new int[] {2, 1})).hasMessageContaining("strictly ascending");
        assertThatThrownBy(() -> s.compaction(new int[] {0, 3})).hasMessageContaining("[0, 3)");
    }

    @Test
    void rowSelectionCopiesRowsWithRepeatsAndDrops() {
        StateSlots s = padded();
        assertThat(s.rowSelection(new int[] {0, 1})).as("the identity is a no-op").isNull();
        StateSlots.Edit edit = s.rowSelection(new int[] {1, 1, 0});
        assertThat(edit.slots()).containsExactly(0, 1, 2, 3, 4);
        s.apply(edit);
        assertThat(s.batchSize()).isEqualTo(3);
        assertThat(row(s, 0)).isEqualTo("..xxx");
        assertThat(row(s, 1)).isEqualTo("..xxx");
        assertThat(row(s, 2)).isEqualTo("xxxxx");
        s.apply(s.rowSelection(new int[] {2}));
        assertThat(s.batchSize()).isEqualTo(1);
        assertThat(s.validCount(0)).isEqualTo(5);
        assertThatThrownBy(() -> s.rowSelection(new int[0])).hasMessageContaining("at least one row");
        assertThatThrownBy(() -> s.rowSelection(new int[] {1})).hasMessageContaining("row 1 is outside [0, 1)");
    }

    @Test
    void aCopyDivergesIndependently() {
        StateSlots s = padded();
        StateSlots copy = s.copy();
        copy.append(new boolean[][] {{false}, {true}}, 1);
        s.apply(s.truncation(1));
        assertThat(copy.length()).isEqualTo(6);
        assertThat(row(copy, 0)).isEqualTo("xxxxx.");
        assertThat(row(copy, 1)).isEqualTo("..xxxx");
        assertThat(copy.validCount(0)).isEqualTo(5);
        assertThat(s.length()).isEqualTo(1);
        assertThat(row(s, 1)).isEqualTo(".");
    }

    @Test
    void markWrittenUpdatesOverwrittenSlotsAndCounts() {
        StateSlots s = padded();
        s.markWritten(new int[] {0, 3}, new boolean[][] {{false, true}, {true, false}});
        assertThat(row(s, 0)).isEqualTo(".xxxx");
        assertThat(row(s, 1)).isEqualTo("x.x.x");
        assertThat(s.validCount(0)).isEqualTo(4);
        assertThat(s.validCount(1)).isEqualTo(3);
        s.markWritten(new int[] {0}, null);
        assertThat(row(s, 0)).isEqualTo("xxxxx");
        assertThat(s.validCount(0)).isEqualTo(5);
        assertThat(s.length()).as("writing in place never grows the state").isEqualTo(5);
    }
}
