package dev.arbor.generation.tokenshuffle;

import dev.arbor.api.ArborException;

/**
 * Token-Shuffle's index regrouping (Ma et al. 2025, "Token-Shuffle: Towards High-Resolution Image Generation with
 * Autoregressive Models"; METHODS.md §3.13), a pure permutation: a raster {@code H x W} token map becomes the
 * sequence of its {@code (H/s)(W/s)} windows of {@code s x s} ids ("shuffle"), windows in raster order of windows,
 * the ids inside a window in raster order; {@link #unshuffle} is its inverse. Immutable and thread-safe.
 */
public final class TokenShuffle {
    private final int s;

    /** The permutation for windows of side {@code window} (>= 1). */
    public TokenShuffle(int window) {
        if (window < 1) {
            throw ArborException.invalid("the Token-Shuffle window side must be at least 1, got " + window);
        }
        this.s = window;
    }

    /** The window side s. */
    public int window() {
        return s;
    }

    /** Ids per window: s². */
    public int windowSize() {
        return s * s;
    }

    /**
     * The windows of the raster map {@code map} ({@code height x width}, row-major): {@code [(H/s)(W/s)][s²]}.
     * Refuses a map whose sides are not multiples of s, or whose length is not {@code height·width}.
     */
    public int[][] shuffle(int[] map, int height, int width) {
        check(map.length, height, width);
        int across = width / s;
        int[][] windows = new int[(height / s) * across][s * s];
        for (int w = 0; w < windows.length; w++) {
            for (int h = 0; h < s * s; h++) {
                windows[w][h] = map[rasterIndex(w, h, across, width)];
            }
        }
        return windows;
    }

    /** The raster map ({@code height x width}, row-major) of {@code windows} as {@link #shuffle} makes them. */
    public int[] unshuffle(int[][] windows, int height, int width) {
        check(height * width, height, width);
        int across = width / s;
        if (windows.length != (height / s) * across) {
            throw ArborException.invalid("a " + height + "x" + width + " map has " + (height / s) * across
                    + " windows of " + s + "x" + s + ", got " + windows.length);
        }
        int[] map = new int[height * width];
        for (int w = 0; w < windows.length; w++) {
            if (windows[w].length != s * s) {
                throw ArborException.invalid("window " + w + " holds " + windows[w].length + " ids, a " + s + "x"
                        + s + " window holds " + s * s);
            }
            for (int h = 0; h < s * s; h++) {
                map[rasterIndex(w, h, across, width)] = windows[w][h];
            }
        }
        return map;
    }

    /** Row-major index in the map of id {@code h} of window {@code w}, with {@code across} windows per row. */
    private int rasterIndex(int w, int h, int across, int width) {
        int y = (w / across) * s + h / s;
        int x = (w % across) * s + h % s;
        return y * width + x;
    }

    private void check(int length, int height, int width) {
        if (height < 1 || width < 1 || height % s != 0 || width % s != 0) {
            throw ArborException.invalid("Token-Shuffle with window " + s + " needs a token map whose height and "
                    + "width are positive multiples of " + s + ", got " + height + "x" + width + "; pad the map "
                    + "(e.g. with the code of a blank patch) to " + roundUp(height) + "x" + roundUp(width)
                    + " or choose a window dividing both sides");
        }
        if (length != height * width) {
            throw ArborException.invalid("a " + height + "x" + width + " token map has " + height * width
                    + " ids, got " + length);
        }
    }

    private int roundUp(int n) {
        return Math.max(s, (n + s - 1) / s * s);
    }
}
