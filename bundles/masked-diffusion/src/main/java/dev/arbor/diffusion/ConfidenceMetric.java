package dev.arbor.diffusion;

import dev.arbor.api.ArborException;

/**
 * How sure the model is of a proposed token, from the processed distribution of its position; decoders unmask the
 * most confident positions first. The built-in metrics are those of LLaDA and Dream (METHODS.md §2.1; Dream's
 * {@code sample_tokens} in {@code NVlabs/Fast-dLLM dream/model/generation_utils.py}).
 */
@FunctionalInterface
public interface ConfidenceMetric {

    /** Scores {@code token} drawn from {@code probabilities} (the processed distribution, summing to 1). */
    double score(double[] probabilities, int token);

    /** {@code p(token)}: LLaDA's {@code low_confidence} remasking and Dream's {@code maskgit_plus}. */
    ConfidenceMetric MAX_PROBABILITY = (p, token) -> p[token];

    /** {@code p1 - p2}, the gap between the two most probable tokens (Dream's {@code topk_margin}). */
    ConfidenceMetric MARGIN = (p, token) -> {
        double first = 0;
        double second = 0;
        for (double v : p) {
            if (v > first) {
                second = first;
                first = v;
            } else if (v > second) {
                second = v;
            }
        }
        return first - second;
    };

    /** {@code sum p log p}, the negative entropy of the position (Dream's {@code entropy}); at most 0. */
    ConfidenceMetric NEGATIVE_ENTROPY = (p, token) -> {
        double s = 0;
        for (double v : p) {
            if (v > 0) {
                s += v * Math.log(v);
            }
        }
        return s;
    };

    /** The metric named {@code max_prob}, {@code margin} or {@code neg_entropy} (option {@code confidence}). */
    static ConfidenceMetric named(String name) {
        return switch (name) {
            case "max_prob" -> MAX_PROBABILITY;
            case "margin" -> MARGIN;
            case "neg_entropy" -> NEGATIVE_ENTROPY;
            default -> throw ArborException.invalid("option 'confidence' must be max_prob, margin or neg_entropy, "
                    + "got '" + name + "'");
        };
    }
}
