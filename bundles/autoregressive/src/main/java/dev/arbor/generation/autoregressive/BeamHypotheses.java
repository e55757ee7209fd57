package dev.arbor.generation.autoregressive;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The finished hypotheses of one beam search, a port of HF transformers' {@code BeamHypotheses}
 * ({@code generation/beam_search.py}): it keeps the {@code numBeams} best by length-normalised score and decides,
 * per {@link EarlyStopping}, whether any running beam can still beat them.
 *
 * <p>Score of a hypothesis: {@code sumLogProbs / generatedLength^lengthPenalty}, where {@code generatedLength}
 * counts the generated tokens including the stop token for hypotheses that ended with one (HF passes
 * {@code generated_len = cur_len - prompt_len} with {@code cur_len = input_ids.shape[-1] + 1} when adding an EOS
 * hypothesis), and the generated tokens alone for beams still running at the length limit (HF's
 * {@code finalize}). {@code sumLogProbs} includes the stop token's log-probability in the first case.
 */
final class BeamHypotheses {

    /** HF's {@code early_stopping}: {@code True}, {@code False} or {@code "never"}. */
    enum EarlyStopping {
        /** Stop as soon as {@code num_beams} hypotheses are finished. */
        TRUE,
        /**
         * HF's heuristic: stop when the worst kept hypothesis beats the best running candidate's sum divided by
         * the current length^penalty. Not a true bound when {@code length_penalty > 0} (a longer sequence divides
         * by more), see transformers PR #20901.
         */
        FALSE,
        /**
         * The exact bound: with {@code length_penalty > 0} the best attainable score divides by the maximum length
         * (sums of log-probabilities only decrease, lengths only grow); otherwise by the current length.
         */
        NEVER
    }

    /**
     * One finished (or length-capped) hypothesis.
     *
     * @param score        length-normalised score
     * @param sumLogProbs  sum of the token log-probabilities (the stop token's included when it ended with one)
     * @param tokens       generated tokens, the stop token excluded
     * @param logProbs     log-probability of each of {@code tokens}
     * @param endedByStop  true when a stop token ended it, false when the length limit (or cancellation) did
     */
    record Hypothesis(double score, double sumLogProbs, int[] tokens, double[] logProbs, boolean endedByStop) {
    }

    private final int numBeams;
    private final double lengthPenalty;
    private final EarlyStopping earlyStopping;
    private final int maxGeneratedLength;
    private final List<Hypothesis> beams = new ArrayList<>();
    /** HF initialises it to 1e9 so that the first {@code numBeams} hypotheses are always kept. */
    private double worstScore = 1e9;

    BeamHypotheses(int numBeams, double lengthPenalty, EarlyStopping earlyStopping, int maxGeneratedLength) {
        this.numBeams = numBeams;
        this.lengthPenalty = lengthPenalty;
        this.earlyStopping = earlyStopping;
        this.maxGeneratedLength = maxGeneratedLength;
    }

    int size() {
        return beams.size();
    }

    /** HF's {@code add}: keeps the hypothesis if there is room or it beats the worst kept one. */
    void add(int[] tokens, double[] logProbs, double sumLogProbs, int generatedLength, boolean endedByStop) {
        double score = sumLogProbs / Math.pow(generatedLength, lengthPenalty);
        if (beams.size() < numBeams || score > worstScore) {
            beams.add(new Hypothesis(score, sumLogProbs, tokens, logProbs, endedByStop));
            if (beams.size() > numBeams) {
                // HF: sorted((s, idx)) ascending, delete the first, the second becomes the worst.
                List<Integer> order = ascendingIndices();
                double secondWorst = beams.get(order.get(1)).score();
                beams.remove((int) order.get(0));
                worstScore = secondWorst;
            } else {
                worstScore = Math.min(score, worstScore);
            }
        }
    }

    /**
     * HF's {@code is_done}.
     *
     * @param bestSumLogProbs the highest candidate score of this step (a sum of log-probabilities)
     * @param currentLength   generated length including this step's token
     */
    boolean isDone(double bestSumLogProbs, int currentLength) {
        if (beams.size() < numBeams) {
            return false;
        }
        double highestAttainable;
        switch (earlyStopping) {
            case TRUE:
                return true;
            case FALSE:
                highestAttainable = bestSumLogProbs / Math.pow(currentLength, lengthPenalty);
                break;
            default:
                highestAttainable = lengthPenalty > 0
                        ? bestSumLogProbs / Math.pow(maxGeneratedLength, lengthPenalty)
                        : bestSumLogProbs / Math.pow(currentLength, lengthPenalty);
                break;
        }
        return worstScore >= highestAttainable;
    }

    /**
     * The kept hypotheses best first. HF sorts ascending with Python's stable sort and pops from the end, so among
     * equal scores the one added last comes first; this keeps that order.
     */
    List<Hypothesis> bestFirst() {
        List<Hypothesis> sorted = new ArrayList<>(beams);
        sorted.sort(Comparator.comparingDouble(Hypothesis::score));
        List<Hypothesis> out = new ArrayList<>(sorted.size());
        for (int i = sorted.size() - 1; i >= 0; i--) {
            out.add(sorted.get(i));
        }
        return out;
    }

    private List<Integer> ascendingIndices() {
        List<Integer> idx = new ArrayList<>();
        for (int i = 0; i < beams.size(); i++) {
            idx.add(i);
        }
        idx.sort(Comparator.<Integer>comparingDouble(i -> beams.get(i).score()).thenComparingInt(i -> i));
        return idx;
    }
}
