package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;

/** Checks of a health-indicator series and its plausibilities, with messages naming the row and the fix. */
final class Series {
    private Series() {
    }

    /** A T × D series of finite values with T &gt; P (D = {@code dimension}; 0 = take the first row's). */
    static void check(String what, double[][] y, int dimension, int order) {
        if (y == null || y.length <= order) {
            throw ArborException.invalid(what + " has " + (y == null ? 0 : y.length) + " steps; the model has AR order"
                    + " " + order + ", so it needs more than " + order + " steps (the first " + order
                    + " only condition the rest)");
        }
        int d = dimension > 0 ? dimension : y[0] == null ? 0 : y[0].length;
        if (d < 1) {
            throw ArborException.invalid(what + ": each step must hold at least one value");
        }
        for (int t = 0; t < y.length; t++) {
            if (y[t] == null || y[t].length != d) {
                throw ArborException.invalid(what + ": step " + t + " holds " + (y[t] == null ? 0 : y[t].length)
                        + " values, expected " + d + " (the model's dimension)");
            }
            for (double v : y[t]) {
                if (!Double.isFinite(v)) {
                    throw ArborException.invalid(what + ": step " + t + " holds " + v + "; values must be finite"
                            + " numbers (no NaN or infinity)");
                }
            }
        }
    }

    /** A T × K matrix of plausibilities in [0, 1], each row with a non-zero entry. */
    static void checkPlausibilities(String what, double[][] l, int steps, int states) {
        if (l.length != steps) {
            throw ArborException.invalid(what + ": " + l.length + " rows for a series of " + steps + " steps (one row"
                    + " of " + states + " plausibilities per step)");
        }
        for (int t = 0; t < l.length; t++) {
            if (l[t] == null || l[t].length != states) {
                throw ArborException.invalid(what + ": step " + t + " holds " + (l[t] == null ? 0 : l[t].length)
                        + " plausibilities, expected " + states + " (one per state)");
            }
            boolean any = false;
            for (double v : l[t]) {
                if (!(v >= 0 && v <= 1)) {
                    throw ArborException.invalid(what + ": step " + t + " holds " + v + "; a plausibility is a"
                            + " number in [0, 1]");
                }
                any |= v > 0;
            }
            if (!any) {
                throw ArborException.invalid(what + ": step " + t + " rules out every state (all plausibilities 0);"
                        + " give 1 to the states that are possible there");
            }
        }
    }
}
