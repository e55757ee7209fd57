package dev.arbor.platform.runtime.internal;

import dev.arbor.api.pipeline.ScoredToken;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.api.sampling.TopTokens;
import dev.arbor.api.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Wraps a request's selector when it asks for {@code top_logprobs}: each selection carries the {@code k} most likely
 * tokens of the processed logits the selector was given ({@link Selection#alternatives()}). They are computed from
 * the logits rather than from {@link Selection#distribution()}, which greedy selection makes one-hot, exactly as the
 * selectors compute the chosen token's log-probability.
 */
final class AlternativesSelector implements TokenSelector {
    private final TokenSelector selector;
    private final int k;

    AlternativesSelector(TokenSelector selector, int k) {
        this.selector = selector;
        this.k = k;
    }

    @Override
    public Selection select(float[] logits, SamplingContext context) {
        // taken before the selector runs: it is what the selector saw, whatever the selector does with the array
        TopTokens top;
        try {
            top = TopTokens.of(logits, k);
        } catch (IllegalArgumentException e) {
            top = null; // no finite logit: the selector reports that in its own words
        }
        Selection selection = selector.select(logits, context);
        if (selection == null || top == null) {
            return selection;
        }
        // the chosen token's entry is the same quantity as the selection's log-probability, computed with another
        // rounding (selectors differ in how they sum); list the selection's own value so that the two agree exactly
        double[] values = top.logProbabilities().clone();
        for (int i = 0; i < values.length; i++) {
            if (top.ids()[i] == selection.token() && Math.abs(values[i] - selection.logProbability()) < 1e-9) {
                values[i] = selection.logProbability();
            }
        }
        return selection.withAlternatives(new TopTokens(top.ids(), values));
    }

    /**
     * The alternatives of a selection its generator made itself (a speculative method's accepted draft token, whose
     * selection holds the target's processed distribution): the {@code k} largest entries of
     * {@code selection.distribution()} as log-probabilities, or null when that distribution is one-hot or absent
     * (greedy choices say nothing about the runner-up).
     */
    static TopTokens fromDistribution(Selection selection, int k) {
        float[] p = selection.distribution();
        if (p == null) {
            return null;
        }
        int nonZero = 0;
        for (float v : p) {
            if (v > 0f) {
                nonZero++;
            }
        }
        if (nonZero < 2) {
            return null;
        }
        float[] logs = new float[p.length];
        for (int i = 0; i < p.length; i++) {
            logs[i] = p[i] > 0f ? (float) Math.log(p[i]) : Float.NEGATIVE_INFINITY;
        }
        TopTokens top = TopTokens.of(logs, k); // log_softmax of log p is log p again (p sums to 1)
        return top;
    }

    /**
     * The alternatives of a committed token with their bytes: those its selection carries (the pipeline's selector
     * saw them), else those of the distribution its generator reports when that is not one-hot; empty when neither
     * says anything or none were asked for.
     */
    static List<ScoredToken> scored(Tokenizer tokenizer, Selection selection, int k) {
        if (selection == null || k == 0) {
            return List.of();
        }
        TopTokens top = selection.alternatives() != null ? selection.alternatives() : fromDistribution(selection, k);
        if (top == null) {
            return List.of();
        }
        List<ScoredToken> out = new ArrayList<>(top.size());
        for (int i = 0; i < top.size(); i++) {
            int id = top.ids()[i];
            out.add(new ScoredToken(id, tokenizer.tokenBytes(id), top.logProbabilities()[i]));
        }
        return out;
    }
}
