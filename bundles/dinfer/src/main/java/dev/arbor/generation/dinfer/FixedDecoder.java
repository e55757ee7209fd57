package dev.arbor.generation.dinfer;

import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.RemaskingPolicy;
import dev.arbor.diffusion.StepView;
import dev.arbor.diffusion.TokenProposer;
import dev.arbor.diffusion.UnmaskSchedule;
import java.util.ArrayList;
import java.util.List;

/**
 * dInfer's fixed decoder: LLaDA's uniform schedule over {@code steps} forwards per block (METHODS.md §2.3), each
 * committing its scheduled number of most confident positions. The schedule is set from the block's MASK count at
 * its first forward.
 */
final class FixedDecoder implements ParallelDecoder {
    private final TokenProposer proposer;
    private final int steps;
    private int[] counts;

    FixedDecoder(TokenProposer proposer, int steps) {
        this.proposer = proposer;
        this.steps = steps;
    }

    @Override
    public List<Proposal> decode(int iteration, int[] positions, float[][] logits) {
        if (iteration == 0 || counts == null) {
            counts = UnmaskSchedule.UNIFORM.counts(positions.length, Math.max(1, Math.min(steps, positions.length)));
        }
        int count = iteration < counts.length ? counts[iteration] : positions.length;
        List<Proposal> proposals = new ArrayList<>(positions.length);
        for (int i = 0; i < positions.length; i++) {
            proposals.add(proposer.propose(positions[i], logits[i]));
        }
        StepView view = new StepView(null, 0, 0, iteration, counts.length, 0, proposer.random());
        return RemaskingPolicy.LOW_CONFIDENCE.choose(view, proposals, Math.max(1, Math.min(count, positions.length)));
    }

    @Override
    public void blockDone() {
        counts = null;
    }
}
