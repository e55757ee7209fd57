package dev.arbor.generation.dinfer;

import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.TokenProposer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * dInfer's hierarchical decoder ({@code HierarchyDecoder.get_transfer_index}, METHODS.md §3.5): the masked positions
 * are split into maximal runs of adjacent positions; in each run the most confident position is committed if its
 * confidence exceeds {@code low_threshold}; every position above {@code threshold} is committed too; and the globally
 * most confident always is. Spreading commits over separate runs keeps them from conditioning on each other within
 * one forward.
 */
final class HierarchyDecoder implements ParallelDecoder {
    private final TokenProposer proposer;
    private final double threshold;
    private final double lowThreshold;

    HierarchyDecoder(TokenProposer proposer, double threshold, double lowThreshold) {
        this.proposer = proposer;
        this.threshold = threshold;
        this.lowThreshold = lowThreshold;
    }

    @Override
    public List<Proposal> decode(int iteration, int[] positions, float[][] logits) {
        List<Proposal> proposals = new ArrayList<>(positions.length);
        for (int i = 0; i < positions.length; i++) {
            proposals.add(proposer.propose(positions[i], logits[i]));
        }
        Set<Proposal> chosen = new LinkedHashSet<>();
        Proposal best = proposals.get(0);
        Proposal runBest = null;
        for (int i = 0; i < proposals.size(); i++) {
            Proposal p = proposals.get(i);
            if (i > 0 && positions[i] != positions[i - 1] + 1) {
                keepIfAbove(runBest, chosen);
                runBest = null;
            }
            if (runBest == null || p.confidence() > runBest.confidence()) {
                runBest = p;
            }
            if (p.confidence() > best.confidence()) {
                best = p;
            }
            if (p.confidence() > threshold) {
                chosen.add(p);
            }
        }
        keepIfAbove(runBest, chosen);
        chosen.add(best);
        List<Proposal> out = new ArrayList<>(chosen);
        out.sort(java.util.Comparator.comparingInt(Proposal::position));
        return out;
    }

    private void keepIfAbove(Proposal runBest, Set<Proposal> chosen) {
        if (runBest != null && runBest.confidence() > lowThreshold) {
            chosen.add(runBest);
        }
    }
}
