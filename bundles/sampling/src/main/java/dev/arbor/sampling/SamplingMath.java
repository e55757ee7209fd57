package dev.arbor.sampling;

import java.util.Arrays;

/**
 * Numerics shared by samplers and decoding methods. All probabilities are computed in double precision from
 * float logits, because speculative acceptance ratios and long cumulative sums lose too much in float32
 * (METHODS.md section 2.1 asks for double). Tie rule everywhere: among equal values the lower index comes first,
 * so results never depend on sort stability of some library.
 *
 * <p>Logit rows are expected to hold finite values or {@code -inf} (a removed token); methods that need a
 * distribution refuse {@code NaN}, {@code +inf} and rows where every entry is {@code -inf}.
 */
public final class SamplingMath {

    private SamplingMath() {
    }

    /**
     * The largest logit of a row that can be normalised.
     *
     * @throws IllegalArgumentException if an entry is NaN or +inf, or every entry is -inf (nothing left to choose)
     */
    public static float maxLogit(float[] logits) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < logits.length; i++) {
            float v = logits[i];
            if (Float.isNaN(v) || v == Float.POSITIVE_INFINITY) {
                throw new IllegalArgumentException("logit of token " + i + " is " + v
                        + "; logits must be finite or -inf");
            }
            if (v > max) {
                max = v;
            }
        }
        if (max == Float.NEGATIVE_INFINITY) {
            throw new IllegalArgumentException("every one of the " + logits.length
                    + " logits is -inf: no token is left to choose");
        }
        return max;
    }

    /** log(sum(exp(logits))) computed stably (shifted by the maximum) in double. */
    public static double logSumExp(float[] logits) {
        double max = maxLogit(logits);
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        return max + Math.log(sum);
    }

    /** softmax(logits) in double: p_i = exp(l_i - max) / sum_j exp(l_j - max); -inf entries get exactly 0. */
    public static double[] softmax(float[] logits) {
        double max = maxLogit(logits);
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }

    /** log_softmax(logits) in double: l_i - logSumExp(l); -inf entries stay -inf. */
    public static double[] logSoftmax(float[] logits) {
        double lse = logSumExp(logits);
        double[] out = new double[logits.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = logits[i] - lse;
        }
        return out;
    }

    /** The index of the largest value, the lowest index among ties (greedy decoding's rule). */
    public static int argmax(float[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("argmax of an empty row");
        }
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    /** As {@link #argmax(float[])} for double rows (probabilities). */
    public static int argmax(double[] values) {
        if (values.length == 0) {
            throw new IllegalArgumentException("argmax of an empty row");
        }
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * The k-th largest value (k = 1 is the maximum), counting equal values separately, as
     * {@code torch.topk(values, k).values[-1]} does. Runs in O(n log n) on a copy; the input is not changed.
     */
    public static float kthLargest(float[] values, int k) {
        if (k < 1 || k > values.length) {
            throw new IllegalArgumentException("k = " + k + " is outside 1.." + values.length);
        }
        float[] copy = values.clone();
        Arrays.sort(copy);
        return copy[copy.length - k];
    }

    /**
     * Indices of {@code values} by descending value; equal values by ascending index (a total, stable order).
     * -0.0 and 0.0 count as equal.
     */
    public static int[] argsortDescending(float[] values) {
        return sortDescending(values, values.length, false);
    }

    /**
     * As {@link #argsortDescending(float[])} but only the indices whose value is not -inf (the tokens still
     * allowed): filters after top-k then sort a handful of entries instead of the whole vocabulary.
     */
    public static int[] candidatesDescending(float[] values) {
        int n = 0;
        for (float v : values) {
            if (v != Float.NEGATIVE_INFINITY) {
                n++;
            }
        }
        return sortDescending(values, n, true);
    }

    private static int[] sortDescending(float[] values, int count, boolean skipNegativeInfinity) {
        // Pack (descending sort key, index) into one long and sort primitives: no boxing, ties by index.
        long[] keys = new long[count];
        int n = 0;
        for (int i = 0; i < values.length; i++) {
            float v = values[i];
            if (skipNegativeInfinity && v == Float.NEGATIVE_INFINITY) {
                continue;
            }
            keys[n++] = ((long) ~orderedBits(v) << 32) | i;
        }
        Arrays.sort(keys);
        int[] order = new int[count];
        for (int i = 0; i < count; i++) {
            order[i] = (int) keys[i];
        }
        return order;
    }

    /** An int whose signed order is the float order (-0.0 folded into 0.0, NaN above +inf). */
    private static int orderedBits(float v) {
        int bits = Float.floatToIntBits(v + 0.0f);
        return bits ^ ((bits >> 31) & 0x7fffffff);
    }

    /** Indices of {@code keys} by ascending key; equal keys by ascending index (stable merge sort). */
    public static int[] argsortAscending(double[] keys) {
        int n = keys.length;
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = i;
        }
        int[] b = new int[n];
        for (int width = 1; width < n; width *= 2) {
            for (int lo = 0; lo < n; lo += 2 * width) {
                int mid = Math.min(lo + width, n);
                int hi = Math.min(lo + 2 * width, n);
                int i = lo;
                int j = mid;
                int k = lo;
                while (i < mid && j < hi) {
                    // <= keeps the left (lower-index) run first on ties: stability.
                    b[k++] = Double.compare(keys[a[i]], keys[a[j]]) <= 0 ? a[i++] : a[j++];
                }
                while (i < mid) {
                    b[k++] = a[i++];
                }
                while (j < hi) {
                    b[k++] = a[j++];
                }
            }
            int[] t = a;
            a = b;
            b = t;
        }
        return a;
    }

    /**
     * Inverse-CDF draw from non-negative, not necessarily normalised {@code weights} with one uniform
     * {@code u} in [0, 1): the smallest index i with {@code u * sum(weights) < weights[0] + ... + weights[i]},
     * scanning indices in ascending order. Zero-weight indices are never returned; if rounding leaves no index
     * (u very close to 1), the last index with positive weight is returned.
     *
     * @throws IllegalArgumentException if a weight is negative or NaN, or all weights are zero
     */
    public static int inverseCdf(double[] weights, double u) {
        double sum = 0;
        int last = -1;
        for (int i = 0; i < weights.length; i++) {
            double w = weights[i];
            if (!(w >= 0) || w == Double.POSITIVE_INFINITY) {
                throw new IllegalArgumentException("weight of index " + i + " is " + w
                        + "; weights must be finite and non-negative");
            }
            if (w > 0) {
                last = i;
            }
            sum += w;
        }
        if (last < 0) {
            throw new IllegalArgumentException("all " + weights.length + " weights are zero");
        }
        double target = u * sum;
        double cumulative = 0;
        for (int i = 0; i <= last; i++) {
            cumulative += weights[i];
            if (target < cumulative) {
                return i;
            }
        }
        return last;
    }

    /** A float copy of a double row (for {@link dev.arbor.api.sampling.Selection#distribution()}). */
    public static float[] toFloat(double[] values) {
        float[] out = new float[values.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) values[i];
        }
        return out;
    }
}
