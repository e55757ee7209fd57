package dev.arbor.watermark;

import java.util.List;

/**
 * The exact null distribution of a keyed green count, the p-value every detector reports. Under the null hypothesis
 * (text written without knowledge of the key) a key drawn at random makes each green list a uniformly random subset
 * of {@code listSize} of the {@code universe} ids, lists with different seeds independent. A detector scores
 * <em>groups</em> (one per list: a seed of the green list, or one list of an LBW pool); in group g the text's ids
 * that can be green carry weights {@code w} (how often the id is counted: its occurrences, or 1 when each is
 * counted once), and the statistic is {@code S = Σ_g Σ_{id ∈ G_g} w_id}.
 *
 * <p>{@link #upperTail} is {@code P(S ≥ observed)} computed exactly — per group a dynamic programme over the ids
 * (an id joins the list with probability {@code (listSize − chosen)/(universe − seen)}: sampling without
 * replacement, so ids of one list are dependent as they really are, and repeated ids move together instead of
 * counting as independent evidence), then a convolution over groups — with sums at or above {@code observed} merged
 * into one cell. That is exact for any text length, including the short texts where a normal approximation of a
 * skewed, repeated count overstates significance. When the exact computation would exceed {@link #EXACT_BUDGET}
 * steps (long texts) it returns a Chernoff bound instead, valid because a sum drawn without replacement is
 * dominated in convex order by the same sum drawn with replacement (Hoeffding 1963, Thm. 4): never smaller than the
 * exact tail, so a reported p-value is never optimistic.
 */
public final class RandomSubsetNull {
    /** Work above which the Chernoff bound replaces the exact distribution (about 15 ms on one core). */
    public static final long EXACT_BUDGET = 10_000_000L;

    private RandomSubsetNull() {
    }

    /**
     * {@code P(S ≥ observed)} for independent random {@code listSize}-subsets of {@code universe} ids, one per
     * group; {@code groups} holds each group's positive weights (ids that cannot be green are simply left out).
     *
     * @throws IllegalArgumentException for a list size outside [0, universe], a weight below 1, or more weighted
     *                                  ids in a group than the universe holds
     */
    public static double upperTail(List<long[]> groups, long universe, long listSize, long observed) {
        return upperTails(groups, universe, listSize, new long[] {observed})[0];
    }

    /**
     * {@link #upperTail} for several observed counts of the same groups at once (the lists of a pool scored on one
     * text): one exact distribution serves them all.
     */
    public static double[] upperTails(List<long[]> groups, long universe, long listSize, long[] observed) {
        if (universe < 1 || listSize < 0 || listSize > universe) {
            throw new IllegalArgumentException("list size " + listSize + " of " + universe + " ids");
        }
        long max = 0;
        for (long o : observed) {
            max = Math.max(max, o);
        }
        long cost = 0;
        long all = 0;
        for (long[] w : groups) {
            if (w.length > universe) {
                throw new IllegalArgumentException(w.length + " ids in a group of a universe of " + universe);
            }
            long sum = 0;
            for (long x : w) {
                if (x < 1) {
                    throw new IllegalArgumentException("weights must be at least 1, got " + x);
                }
                sum += x;
            }
            all += sum;
            long cells = Math.min(sum, max) + 1;
            cost += (long) w.length * (Math.min(w.length, listSize) + 1) * cells + (max + 1) * cells;
        }
        int cap = (int) Math.min(max, all);
        double[] distribution = cost <= EXACT_BUDGET && cap > 0 ? exact(groups, universe, listSize, cap) : null;
        double[] tails = new double[observed.length];
        for (int i = 0; i < observed.length; i++) {
            long o = observed[i];
            if (o <= 0) {
                tails[i] = 1;
            } else if (o > all) {
                tails[i] = 0;
            } else if (distribution != null) {
                double tail = 0;
                for (int s = (int) o; s <= cap; s++) {
                    tail += distribution[s];
                }
                tails[i] = Math.min(1, tail);
            } else {
                tails[i] = Math.min(1, chernoff(groups, universe, listSize, o));
            }
        }
        return tails;
    }

    /** The distribution of S, sums at or above {@code cap} in cell {@code cap}. */
    private static double[] exact(List<long[]> groups, long universe, long listSize, int cap) {
        double[] total = new double[cap + 1];
        total[0] = 1;
        int reach = 0;
        for (long[] w : groups) {
            long sum = 0;
            for (long x : w) {
                sum += x;
            }
            int groupReach = (int) Math.min(cap, sum);
            total = convolve(total, reach, group(w, universe, listSize, cap), groupReach, cap);
            reach = (int) Math.min(cap, (long) reach + groupReach);
        }
        return total;
    }

    /** Distribution of one group's green weight, sums {@code ≥ cap} in cell {@code cap}. */
    static double[] group(long[] weights, long universe, long listSize, int cap) {
        int maxChosen = (int) Math.min(weights.length, listSize);
        double[][] p = new double[maxChosen + 1][cap + 1];
        p[0][0] = 1;
        int reach = 0; // largest sum reachable so far (capped): cells above it are still empty
        for (int i = 0; i < weights.length; i++) {
            int w = (int) Math.min(weights[i], cap);
            double remaining = universe - i;
            // descending j: row j + 1 is final for this step before row j adds to it
            for (int j = Math.min(i, maxChosen); j >= 0; j--) {
                double in = j < listSize ? (listSize - j) / remaining : 0;
                if (in == 0) {
                    continue;
                }
                double[] row = p[j];
                double[] up = p[j + 1];
                for (int s = reach; s >= 0; s--) {
                    double mass = row[s];
                    if (mass == 0) {
                        continue;
                    }
                    up[Math.min(cap, s + w)] += mass * in;
                    row[s] = mass * (1 - in);
                }
            }
            reach = Math.min(cap, reach + w);
        }
        double[] out = new double[cap + 1];
        for (double[] row : p) {
            for (int s = 0; s <= cap; s++) {
                out[s] += row[s];
            }
        }
        return out;
    }

    /** {@code a * b} over cells {@code 0..aReach} and {@code 0..bReach}, sums at or above {@code cap} merged. */
    private static double[] convolve(double[] a, int aReach, double[] b, int bReach, int cap) {
        double[] out = new double[cap + 1];
        for (int i = 0; i <= aReach; i++) {
            if (a[i] == 0) {
                continue;
            }
            for (int j = 0; j <= bReach; j++) {
                if (b[j] != 0) {
                    out[Math.min(cap, i + j)] += a[i] * b[j];
                }
            }
        }
        return out;
    }

    /**
     * {@code min_λ exp(−λ·observed) · Π_g E[e^{λ·Y}]^{listSize}} with Y one id drawn uniformly from the universe
     * (weight 0 for ids not in the group): the with-replacement Chernoff bound, minimised over λ (convex in λ).
     */
    static double chernoff(List<long[]> groups, long universe, long listSize, long observed) {
        double lo = 0;
        double hi = 1;
        while (logBound(groups, universe, listSize, observed, hi) < logBound(groups, universe, listSize, observed,
                hi / 2) && hi < 1e3) {
            hi *= 2;
        }
        for (int it = 0; it < 100; it++) {
            double m1 = lo + (hi - lo) / 3;
            double m2 = hi - (hi - lo) / 3;
            if (logBound(groups, universe, listSize, observed, m1) <= logBound(groups, universe, listSize, observed,
                    m2)) {
                hi = m2;
            } else {
                lo = m1;
            }
        }
        return Math.exp(Math.min(0, logBound(groups, universe, listSize, observed, (lo + hi) / 2)));
    }

    private static double logBound(List<long[]> groups, long universe, long listSize, long observed, double lambda) {
        double log = -lambda * observed;
        for (long[] w : groups) {
            double max = 0;
            for (long x : w) {
                max = Math.max(max, lambda * x);
            }
            // log of ((universe − n) + Σ e^{λ w}) / universe, scaled by e^{−max} for stability
            double sum = (universe - w.length) * Math.exp(-max);
            for (long x : w) {
                sum += Math.exp(lambda * x - max);
            }
            log += listSize * (max + Math.log(sum) - Math.log(universe));
        }
        return log;
    }
}
