package dev.arbor.generation.dinfer;

import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.TokenProposer;
import java.util.ArrayList;
import java.util.List;

/**
 * dInfer's threshold decoder ({@code get_transfer_index_threshold}, METHODS.md §3.5): every masked position whose
 * confidence reaches {@code min(threshold, max confidence - 1e-5)} is committed, so the most confident one always is
 * and a threshold above 1 commits exactly one token per forward.
 *
 * <p><b>MASK draws</b> ({@code rm_mask = True}, dInfer's default): the token is drawn over the whole vocabulary, MASK
 * included, and a position whose draw is MASK is left out of this forward (it stays masked); confidences are
 * probabilities under the distribution with MASK in it ({@link TokenProposer#proposeUnlessMask}).
 *
 * <p><b>Progress when every draw is MASK</b>: dInfer then commits nothing ({@code max(confidence) = -inf}, its
 * threshold clamps to -1000 and no confidence reaches it) and its {@code BlockRunner} simply runs another forward:
 * under sampling a fresh Gumbel draw, under greedy decoding (its default, temperature 0) the same forward again,
 * forever, since the loop has no iteration limit. Here that forward instead commits the single position whose best
 * non-MASK token is the most confident (drawn as {@link TokenProposer#propose} draws, MASK excluded), so every forward
 * commits at least one token and a block of n positions takes at most n forwards.
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
        return decodeUnlessMask(proposer, positions, logits, threshold);
    }

    /**
     * The rule with dInfer's {@code rm_mask}: positions whose draw is MASK abstain; when all do, the fallback above.
     * Shared with the credit decoder, which passes its fused logits.
     */
    static List<Proposal> decodeUnlessMask(TokenProposer proposer, int[] positions, float[][] logits,
                                           double threshold) {
        List<Proposal> proposals = new ArrayList<>(positions.length);
        for (int i = 0; i < positions.length; i++) {
            Proposal p = proposer.proposeUnlessMask(positions[i], logits[i]);
            if (p != null) {
                proposals.add(p);
            }
        }
        if (!proposals.isEmpty()) {
            return select(proposals, threshold);
        }
        Proposal best = null;
        for (int i = 0; i < positions.length; i++) {
            Proposal p = proposer.propose(positions[i], logits[i]);
            if (best == null || p.confidence() > best.confidence()) {
                best = p;
            }
        }
        return List.of(best);
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
