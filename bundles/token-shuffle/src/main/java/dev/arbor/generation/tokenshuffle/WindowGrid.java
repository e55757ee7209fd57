package dev.arbor.generation.tokenshuffle;

import java.util.Arrays;

/**
 * An image's {@code side x side} code map as Token-Shuffle windows: padded to the next multiple of the window side s
 * on the right columns and bottom rows with the tokenizer's code of a blank (all-black) patch — the forge's
 * {@code TokenShuffleObjective} trains with the same padding — and regrouped by {@link TokenShuffle}. A padding
 * entry is known, never sampled; the rest map to their raster index in the unpadded map. Immutable.
 */
final class WindowGrid {
    private final int side;
    private final int blank;
    private final TokenShuffle shuffle;
    private final int across;
    /** [window][slot] -> raster index in the side x side map, -1 for padding. */
    private final int[][] raster;

    WindowGrid(int side, int window, int blankCode) {
        this.side = side;
        this.blank = blankCode;
        this.shuffle = new TokenShuffle(window);
        int padded = (side + window - 1) / window * window;
        this.across = padded / window;
        int[] index = new int[padded * padded];
        Arrays.fill(index, -1);
        for (int y = 0; y < side; y++) {
            for (int x = 0; x < side; x++) {
                index[y * padded + x] = y * side + x;
            }
        }
        // the permutation itself places each raster index: the grid and TokenShuffle cannot disagree
        this.raster = shuffle.shuffle(index, padded, padded);
    }

    /** Windows per image. */
    int windows() {
        return raster.length;
    }

    /** Ids per window (s², the prior's output heads). */
    int slots() {
        return shuffle.windowSize();
    }

    /** Windows per row of windows. */
    int windowsPerRow() {
        return across;
    }

    /** The window side s. */
    int window() {
        return shuffle.window();
    }

    /** The padding code (the tokenizer's code of a blank patch). */
    int blankCode() {
        return blank;
    }

    /** Raster index (row-major, unpadded map) of slot {@code h} of window {@code w}; -1 when it is padding. */
    int rasterIndex(int w, int h) {
        return raster[w][h];
    }

    /** The unpadded map's rows that are complete once the row of windows {@code windowRow} is: [from, to). */
    int[] rowsCompletedBy(int windowRow) {
        int s = shuffle.window();
        return new int[] {Math.min(side, windowRow * s), Math.min(side, (windowRow + 1) * s)};
    }

    /** Side of the unpadded map. */
    int side() {
        return side;
    }
}
