package dev.arbor.generation.nextx;

import dev.arbor.api.model.AttentionSpec;
import java.util.Arrays;

/**
 * xAR's block-causal cluster mask ({@code models/xar.py} l.273-286) as an {@link AttentionSpec.Segments}: slot 0
 * (the class token) has segment 0, the tokens of cell k (cell order, {@link Cells}) segment k + 1, so a token of
 * cell k sees the class token, every token of cells 0..k−1 and every token of its own cell (bidirectional inside a
 * cell), and nothing after.
 */
final class CellSegments {
    private CellSegments() {
    }

    /** Segment of every slot of an image sequence: class token 0, then each cell-order token's cell + 1. */
    static int[] sequence(Cells cells) {
        int[] seg = new int[1 + cells.tokens()];
        for (int i = 0; i < cells.tokens(); i++) {
            seg[1 + i] = cells.cellOf(i) + 1;
        }
        return seg;
    }

    /**
     * The spec of a forward of cell {@code k}'s tokens on a state holding the class token and cells 0..k−1
     * ({@code 1 + cells.start(k)} slots), for {@code batch} identical rows; {@code k = -1} is the class token's own
     * forward on an empty state.
     */
    static AttentionSpec.Segments forCell(Cells cells, int k, int batch) {
        int[] seq = sequence(cells);
        int held = k < 0 ? 0 : 1 + cells.start(k);
        int queries = k < 0 ? 1 : cells.size(k);
        int[] query = new int[queries];
        Arrays.fill(query, k + 1);
        int[] keys = Arrays.copyOf(seq, held + queries);
        Arrays.fill(keys, held, held + queries, k + 1);
        int[][] q = new int[batch][];
        int[][] kk = new int[batch][];
        for (int b = 0; b < batch; b++) {
            q[b] = query.clone();
            kk[b] = keys.clone();
        }
        return new AttentionSpec.Segments(q, kk);
    }
}
