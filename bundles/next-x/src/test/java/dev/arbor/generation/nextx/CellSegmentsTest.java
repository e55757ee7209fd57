package dev.arbor.generation.nextx;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.model.AttentionSpec;
import org.junit.jupiter.api.Test;

/** xAR's cluster mask: a token sees the class token, earlier cells and its whole own cell; nothing later. */
class CellSegmentsTest {

    /** The cell of raster token {@code r} from the geometry alone. */
    static int cellOfRaster(int r, int side, int cellSide) {
        int perRow = (side + cellSide - 1) / cellSide;
        return (r / side / cellSide) * perRow + (r % side) / cellSide;
    }

    @Test
    void sequenceMaskIsBlockCausalByCell() {
        for (int[] shape : new int[][] {{7, 4}, {4, 2}, {5, 3}}) {
            int side = shape[0];
            int cs = shape[1];
            Cells cells = new Cells(side, cs);
            int[] seg = CellSegments.sequence(cells);
            assertThat(seg[0]).isZero();
            for (int q = 0; q < seg.length; q++) {
                for (int k = 0; k < seg.length; k++) {
                    boolean visible = seg[k] <= seg[q];
                    boolean expected;
                    if (k == 0) {
                        expected = true; // everyone sees the class token
                    } else if (q == 0) {
                        expected = false; // the class token sees only itself
                    } else {
                        int cq = cellOfRaster(cells.rasterIndex(q - 1), side, cs);
                        int ck = cellOfRaster(cells.rasterIndex(k - 1), side, cs);
                        expected = ck <= cq; // earlier cells and the whole own cell, in both directions
                    }
                    assertThat(visible).as("%dx%d/%d: query %d key %d", side, side, cs, q, k).isEqualTo(expected);
                }
            }
        }
    }

    @Test
    void forwardOfACellSeesTheCachedContextAndItsOwnCell() {
        Cells cells = new Cells(7, 4);
        int[] seq = CellSegments.sequence(cells);
        AttentionSpec.Segments classSpec = CellSegments.forCell(cells, -1, 2);
        assertThat(classSpec.querySegment()).isDeepEqualTo(new int[][] {{0}, {0}});
        assertThat(classSpec.keySegment()).isDeepEqualTo(new int[][] {{0}, {0}});
        for (int k = 0; k < cells.count(); k++) {
            AttentionSpec.Segments spec = CellSegments.forCell(cells, k, 2);
            int held = 1 + cells.start(k);
            for (int b = 0; b < 2; b++) {
                assertThat(spec.querySegment()[b]).hasSize(cells.size(k)).containsOnly(k + 1);
                int[] keys = spec.keySegment()[b];
                assertThat(keys).hasSize(held + cells.size(k));
                for (int p = 0; p < keys.length; p++) {
                    // the same segment as the slot has in the whole sequence: cached slots keep their cells
                    assertThat(keys[p]).isEqualTo(seq[p]);
                    assertThat(keys[p] <= k + 1).isTrue();
                }
            }
        }
    }
}
