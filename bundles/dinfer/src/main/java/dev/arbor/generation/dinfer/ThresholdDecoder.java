package dev.arbor.generation.dinfer;

import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.TokenProposer;
import java.util.ArrayList;
import java.util.List;

/**
 * dInfer's threshold decoder ({@code get_transfer_index_threshold}, METHODS.md §3.5): every masked position whose
 * confidence reaches {@code min(threshold, max confidence - 1e-5)} is committed, so the most confident one always is
 * and a threshold above 1 commits exactly one token per forward.
 */
final class ThresholdDecoder implements ParallelDecoder {
    private final TokenProposer proposer;
    private final double threshold;

    ThresholdDecoder(TokenProposer proposer, double threshold) {
        this.proposer = proposer;
        this.threshold = threshold;
    }

    @Override
    public List<Proposal> decode(int iteration, int[] positions, float[][] logits) {
        List<Proposal> proposals = new ArrayList<>(positions.length);
        for (int i = 0; i < positions.length; i++) {
            proposals.add(proposer.propose(positions[i], logits[i]));
        }
        return select(proposals, threshold);
    }

    /** The rule itself, shared with the credit decoder. */
    static List<Proposal> select(List<Proposal> proposals, double threshold) {
        double max = Double.NEGATIVE_INFINITY;
        for (Proposal p : proposals) {
            max = Math.max(max, p.confidence());
        }
        double effective = Math.min(threshold, max - 1e-5);
        List<Proposal> chosen = new ArrayList<>();
        for (Proposal p : proposals) {
            if (p.confidence() >= effective) {
                chosen.add(p);
            }
        }
        return chosen;
    }
}
