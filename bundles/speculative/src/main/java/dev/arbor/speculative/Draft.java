package dev.arbor.speculative;

import java.util.Objects;

/**
 * Proposed tokens and the distributions q they were drawn from.
 *
 * @param tokens        proposed ids, in order
 * @param distributions {@code distributions[i]} is q for {@code tokens[i]} (the processed draft distribution over
 *                      the vocabulary, as the chain's selector returned it), or null for a deterministic draft
 *                      (q one-hot at the token, as for n-gram lookup)
 */
public record Draft(int[] tokens, float[][] distributions) {
    /** Nothing proposed: the step becomes a plain target step. */
    public static final Draft EMPTY = new Draft(new int[0], null);

    public Draft {
        Objects.requireNonNull(tokens, "tokens");
        if (distributions != null && distributions.length != tokens.length) {
            throw new IllegalArgumentException(tokens.length + " tokens but " + distributions.length
                    + " distributions");
        }
    }

    /** A deterministic draft (one-hot q). */
    public static Draft deterministic(int... tokens) {
        return new Draft(tokens.clone(), null);
    }

    public int size() {
        return tokens.length;
    }

    /** q(token i) at the proposed token: 1 for deterministic drafts. */
    public double probability(int i) {
        return distributions == null ? 1.0 : distributions[i][tokens[i]];
    }

    /** q(v) at position i for any id v. */
    public double probability(int i, int v) {
        if (distributions == null) {
            return v == tokens[i] ? 1.0 : 0.0;
        }
        return distributions[i][v];
    }
}
