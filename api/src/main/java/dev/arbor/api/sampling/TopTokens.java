package dev.arbor.api.sampling;

import java.util.Arrays;

/**
 * The {@code k} most likely tokens of a processed distribution with their log-probabilities, most likely first (the
 * lower id first among equal values): what OpenAI's {@code top_logprobs} lists. Computed from the logits a selector
 * saw, so it is the distribution the token was chosen from even under greedy decoding, where
 * {@link Selection#distribution()} is one-hot. Since 1.2.
 *
 * @param ids              token ids, most likely first
 * @param logProbabilities {@code log_softmax(logits)[id]} in double for each id; {@code -inf} for a token that the
 *                         processors removed
 */
public record TopTokens(int[] ids, double[] logProbabilities) {
    /** The most alternatives a request may ask for (OpenAI's limit for {@code top_logprobs}). */
    public static final int MAX = 20;

    public TopTokens {
        if (ids.length != logProbabilities.length) {
            throw new IllegalArgumentException("ids and log-probabilities differ in length: " + ids.length + " vs "
                    + logProbabilities.length);
        }
    }

    /**
     * The {@code min(k, logits.length)} largest entries of {@code log_softmax(logits)}, computed in double as the
     * selectors compute a token's log-probability: {@code (l_i - max) - log(sum_j exp(l_j - max))}.
     *
     * @throws IllegalArgumentException when k is not in 1..{@value #MAX}, or no logit is finite
     */
    public static TopTokens of(float[] logits, int k) {
        if (k < 1 || k > MAX) {
            throw new IllegalArgumentException("k must be between 1 and " + MAX + ", got " + k);
        }
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) {
            if (v > max) {
                max = v;
            }
        }
        if (max == Double.NEGATIVE_INFINITY || Double.isNaN(max) || Double.isInfinite(max)) {
            throw new IllegalArgumentException("no finite logit among " + logits.length);
        }
        double sum = 0;
        for (float v : logits) {
            sum += Math.exp(v - max);
        }
        double logSum = Math.log(sum);
        int n = Math.min(k, logits.length);
        // a sorted insertion into n slots: k is at most 20, so this is one pass over the vocabulary
        int[] ids = new int[n];
        float[] best = new float[n];
        int size = 0;
        for (int i = 0; i < logits.length; i++) {
            float v = logits[i];
            int at;
            if (size < n) {
                at = size++;
            } else if (v > best[n - 1]) {
                at = n - 1; // evicts the smallest kept entry
            } else {
                continue;
            }
            while (at > 0 && v > best[at - 1]) { // strictly greater: among equals the lower id stays first
                best[at] = best[at - 1];
                ids[at] = ids[at - 1];
                at--;
            }
            best[at] = v;
            ids[at] = i;
        }
        double[] logProbabilities = new double[n];
        for (int j = 0; j < n; j++) {
            logProbabilities[j] = (best[j] - max) - logSum;
        }
        return new TopTokens(ids, logProbabilities);
    }

    /** How many tokens are listed. */
    public int size() {
        return ids.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TopTokens t && Arrays.equals(ids, t.ids)
                && Arrays.equals(logProbabilities, t.logProbabilities);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(ids) + Arrays.hashCode(logProbabilities);
    }

    @Override
    public String toString() {
        return "TopTokens" + Arrays.toString(ids) + Arrays.toString(logProbabilities);
    }
}
