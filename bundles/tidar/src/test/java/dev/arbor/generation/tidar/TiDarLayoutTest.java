package dev.arbor.generation.tidar;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.BitSet;
import org.junit.jupiter.api.Test;

/**
 * The explicit mask, positions and rows of one TiDAR forward (METHODS.md §3.10), checked against their definition
 * written out independently here: for every block a and every draft length k = 1..6, a MASK of block a sees exactly
 * the cache, the pending tokens, d_1..d_a and its own block; the causal section is causal and sees no MASK.
 */
class TiDarLayoutTest {
    private static final int MASK = 99;

    @Test
    void everyBlockSeesTheCacheTheAcceptedDraftsAndItselfAndTheCausalSectionIsCausal() {
        for (int k = 1; k <= 6; k++) {
            for (int stateLength : new int[] {0, 7}) {
                for (int pendingLength : new int[] {1, 3}) {
                    check(stateLength, pendingLength, k, k);
                    check(stateLength, pendingLength, k - 1, k);   // fewer drafts than the block length
                    check(stateLength, pendingLength, k, Math.max(1, k - 2)); // shorter blocks near the end
                }
            }
        }
    }

    private static void check(int s, int pendingLength, int d, int blockLength) {
        int[] pending = new int[pendingLength];
        for (int i = 0; i < pendingLength; i++) {
            pending[i] = 10 + i;
        }
        int[] drafts = new int[d];
        for (int j = 0; j < d; j++) {
            drafts[j] = 20 + j;
        }
        TiDarLayout layout = new TiDarLayout(s, pending, drafts, blockLength, MASK);
        String where = "state " + s + ", pending " + pendingLength + ", drafts " + d + ", block " + blockLength;
        int causal = pendingLength + d;
        int lq = causal + (d + 1) * blockLength;
        assertThat(layout.queryLength()).as(where).isEqualTo(lq);
        assertThat(layout.blockCount()).as(where).isEqualTo(d + 1);
        int[] tokens = layout.tokens();
        int[] positions = layout.positions();
        BitSet[] visible = layout.visibility();
        assertThat(visible).hasSize(lq);
        int m = s + pendingLength - 1; // position of the last committed token
        // Causal section: pending then drafts, consecutive positions, causal over cache + section, no MASK.
        for (int q = 0; q < causal; q++) {
            assertThat(tokens[q]).as(where).isEqualTo(q < pendingLength ? pending[q] : drafts[q - pendingLength]);
            assertThat(positions[q]).as(where).isEqualTo(s + q);
            BitSet expected = new BitSet();
            expected.set(0, s + q + 1);
            assertThat(visible[q]).as(where + ", causal query " + q).isEqualTo(expected);
        }
        // Block a: k MASKs at positions m+a+1 .. m+a+blockLength seeing cache ∪ pending ∪ d_1..d_a ∪ own block.
        for (int a = 0; a <= d; a++) {
            BitSet expected = new BitSet();
            for (int key = 0; key < s; key++) {
                expected.set(key);                                   // the cache
            }
            for (int i = 0; i < pendingLength; i++) {
                expected.set(s + i);                                 // the committed tokens fed now
            }
            for (int j = 0; j < a; j++) {
                expected.set(s + pendingLength + j);                 // d_1..d_a
            }
            int blockStart = causal + a * blockLength;
            for (int i = 0; i < blockLength; i++) {
                expected.set(s + blockStart + i);                    // its own block, bidirectionally
            }
            for (int i = 0; i < blockLength; i++) {
                int q = blockStart + i;
                assertThat(layout.maskIndex(a, i)).isEqualTo(q);
                assertThat(tokens[q]).as(where).isEqualTo(MASK);
                assertThat(positions[q]).as(where + ", block " + a + " mask " + i).isEqualTo(m + a + 1 + i);
                assertThat(visible[q]).as(where + ", block " + a + " mask " + i).isEqualTo(expected);
                // The rows: AR rows first (d + 1), then the MASKs block by block.
                assertThat(layout.logitRows()[layout.maskRow(a, i)]).isEqualTo(q);
            }
        }
        for (int i = 0; i <= d; i++) {
            assertThat(layout.logitRows()[i]).as(where).isEqualTo(pendingLength - 1 + i);
        }
        assertThat(layout.logitRows()).hasSize(d + 1 + (d + 1) * blockLength);
        assertThat(layout.slotsAfterForward()).isEqualTo(s + lq);
    }

    @Test
    void withoutBlocksItIsAPlainCausalStep() {
        TiDarLayout layout = new TiDarLayout(4, new int[] {1}, new int[] {2, 3}, 0, MASK);
        assertThat(layout.blockCount()).isZero();
        assertThat(layout.tokens()).containsExactly(1, 2, 3);
        assertThat(layout.positions()).containsExactly(4, 5, 6);
        assertThat(layout.logitRows()).containsExactly(0, 1, 2);
    }

    @Test
    void aForwardFeedsAtLeastOneCommittedToken() {
        assertThatThrownBy(() -> new TiDarLayout(3, new int[0], new int[] {1}, 2, MASK))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least one committed token");
    }
}
