package dev.arbor.generation.nextx;

import java.util.Arrays;

/**
 * xAR's "X" as cells of a square token grid (Ren et al. 2025, {@code github.com/OliverRensu/xAR @121e9c9 :
 * models/xar.py} {@code clusterify} / {@code unclusterify}): the {@code side × side} grid is cut into square cells of
 * {@code cellSide} (the last row and column of cells smaller when {@code cellSide} does not divide {@code side}:
 * 7 × 7 with cells of 4 gives the quadrants of 16, 12, 12 and 9 tokens), cells in raster order, the tokens of a cell
 * in raster order inside it. {@link #clusterify} reorders raster tokens into that cell order, {@link #unclusterify}
 * undoes it. xAR's own grid (16 × 16, cells of 8) divides evenly; the uneven split is this project's form for the
 * 7 × 7 patch grid. Immutable.
 */
public final class Cells {
    private final int side;
    private final int cellSide;
    private final int perRow;
    private final int[] order;
    private final int[] start;

    /** The cells of a {@code side × side} grid cut into cells of {@code cellSide} (1 ≤ cellSide ≤ side). */
    public Cells(int side, int cellSide) {
        if (side < 1 || cellSide < 1 || cellSide > side) {
            throw new IllegalArgumentException("cells of side " + cellSide + " over a grid of side " + side
                    + ": need 1 <= cell side <= grid side");
        }
        this.side = side;
        this.cellSide = cellSide;
        this.perRow = (side + cellSide - 1) / cellSide;
        this.order = new int[side * side];
        this.start = new int[perRow * perRow + 1];
        int i = 0;
        for (int k = 0; k < perRow * perRow; k++) {
            start[k] = i;
            int r0 = (k / perRow) * cellSide;
            int c0 = (k % perRow) * cellSide;
            for (int r = r0; r < Math.min(side, r0 + cellSide); r++) {
                for (int c = c0; c < Math.min(side, c0 + cellSide); c++) {
                    order[i++] = r * side + c;
                }
            }
        }
        start[perRow * perRow] = i;
    }

    /** Side of the token grid. */
    public int side() {
        return side;
    }

    /** Side of a (full) cell. */
    public int cellSide() {
        return cellSide;
    }

    /** Number of cells K. */
    public int count() {
        return start.length - 1;
    }

    /** Tokens in the grid. */
    public int tokens() {
        return order.length;
    }

    /** Index in cell order of the first token of cell {@code k} ({@code k = count()} gives {@link #tokens()}). */
    public int start(int k) {
        return start[k];
    }

    /** Tokens of cell {@code k}. */
    public int size(int k) {
        return start[k + 1] - start[k];
    }

    /** The raster index of the token at cell-order index {@code i}. */
    public int rasterIndex(int i) {
        return order[i];
    }

    /** The cell of cell-order index {@code i}. */
    public int cellOf(int i) {
        int k = Arrays.binarySearch(start, i);
        return k >= 0 ? (k == count() ? k - 1 : k) : -k - 2;
    }

    /** Raster-order rows → cell order (xAR's clusterify); rows are shared, not copied. */
    public <T> T[] clusterify(T[] raster) {
        check(raster.length);
        T[] out = raster.clone();
        for (int i = 0; i < order.length; i++) {
            out[i] = raster[order[i]];
        }
        return out;
    }

    /** Cell-order rows → raster order (xAR's unclusterify); rows are shared, not copied. */
    public <T> T[] unclusterify(T[] clustered) {
        check(clustered.length);
        T[] out = clustered.clone();
        for (int i = 0; i < order.length; i++) {
            out[order[i]] = clustered[i];
        }
        return out;
    }

    private void check(int n) {
        if (n != order.length) {
            throw new IllegalArgumentException(n + " tokens, a " + side + "x" + side + " grid has " + order.length);
        }
    }

    @Override
    public String toString() {
        int[] sizes = new int[count()];
        for (int k = 0; k < sizes.length; k++) {
            sizes[k] = size(k);
        }
        return "Cells[" + side + "x" + side + " in cells of " + cellSide + ": " + Arrays.toString(sizes) + "]";
    }
}
