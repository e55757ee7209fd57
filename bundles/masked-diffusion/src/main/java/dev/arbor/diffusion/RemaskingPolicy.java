package dev.arbor.diffusion;

import dev.arbor.api.ArborException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Chooses which proposals of a step to commit; the rest stay (or are put back to) MASK. A policy may keep state
 * across the steps of one request (create one per request), and may call {@link Canvas#remask} on positions of the
 * current block to revisit earlier decisions, as long as the block ends with no MASK.
 */
@FunctionalInterface
public interface RemaskingPolicy {

    /**
     * Returns the proposals to commit at this step, normally {@code count} of them.
     *
     * @param step      where the decoder is (canvas, block, step, RNG)
     * @param proposals one per masked position of the current block, ascending by position
     * @param count     how many the schedule asks for ({@code <= proposals.size()})
     */
    List<Proposal> choose(StepView step, List<Proposal> proposals, int count);

    /**
     * LLaDA's {@code low_confidence} remasking: commit the {@code count} most confident proposals (ties to the left
     * position, a deterministic stand-in for {@code torch.topk}'s unspecified order).
     */
    RemaskingPolicy LOW_CONFIDENCE = (step, proposals, count) -> {
        List<Proposal> sorted = new ArrayList<>(proposals);
        sorted.sort(Comparator.comparingDouble(Proposal::confidence).reversed()
                .thenComparingInt(Proposal::position));
        return sorted.subList(0, Math.min(count, sorted.size()));
    };

    /**
     * LLaDA's {@code random} remasking: every proposal gets a uniform score from the request RNG (in position
     * order) and the {@code count} highest are committed, i.e. a uniformly random subset. With one token per step
     * this is random-order ancestral sampling, which samples the model's joint exactly.
     */
    RemaskingPolicy RANDOM = (step, proposals, count) -> {
        double[] score = new double[proposals.size()];
        Integer[] order = new Integer[proposals.size()];
        for (int i = 0; i < score.length; i++) {
            score[i] = step.random().nextDouble();
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Double.compare(score[b], score[a]));
        List<Proposal> out = new ArrayList<>();
        for (int i = 0; i < Math.min(count, order.length); i++) {
            out.add(proposals.get(order[i]));
        }
        return out;
    };

    /** The policy named {@code low_confidence} or {@code random} (option {@code remasking}). */
    static RemaskingPolicy named(String name) {
        return switch (name) {
            case "low_confidence" -> LOW_CONFIDENCE;
            case "random" -> RANDOM;
            default -> throw ArborException.invalid("option 'remasking' must be low_confidence or random, got '"
                    + name + "'");
        };
    }
}
