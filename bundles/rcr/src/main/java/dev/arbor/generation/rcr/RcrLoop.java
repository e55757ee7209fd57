package dev.arbor.generation.rcr;

import dev.arbor.api.generation.Cancellation;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.CanvasOutput;
import dev.arbor.diffusion.DiffusionModel;
import dev.arbor.diffusion.MaskedDiffusionLoop;
import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.StepView;
import dev.arbor.diffusion.TokenProposer;
import dev.arbor.diffusion.UnmaskSchedule;
import java.util.ArrayList;
import java.util.List;

/**
 * MDPO's RCR step loop ({@code diffusion_generate} with {@code rcr=True}, METHODS.md §3.7): the shared
 * {@link MaskedDiffusionLoop} skeleton (blocks left to right, the steps spread over the blocks, per step one stateless
 * forward and the schedule's count), except that a step proposes every masked position of its <em>scope</em>, which
 * with cross-block remasking starts at the generation region rather than at the block: a token of an earlier block
 * that {@link RunningConfidenceRemasking} put back to MASK is decoded again there, as in the reference, whose
 * selection covers every masked position before the block's end. Since earlier blocks can then change until the last
 * step, the output is released only when the whole region is decoded; without cross-block remasking each block is
 * released when it is complete, and decoding stops once the output has ended (a stop token).
 *
 * <p>The scope's MASK count after step {@code s} of a block is the schedule's remainder {@code n_{s+1} + ...}, so at
 * the block's last step everything in scope is committed; should a policy leave MASK there anyway, extra steps
 * commit the rest (as the shared loop does).
 */
final class RcrLoop {
    private final DiffusionModel model;
    private final TokenProposer proposer;
    private final CanvasOutput output;
    private final Cancellation cancellation;

    RcrLoop(DiffusionModel model, TokenProposer proposer, CanvasOutput output, Cancellation cancellation) {
        this.model = model;
        this.proposer = proposer;
        this.output = output;
        this.cancellation = cancellation;
    }

    /** Decodes {@code canvas}; returns false when the request was cancelled before it finished. */
    boolean run(Canvas canvas, int blockLength, int totalSteps, UnmaskSchedule schedule,
                RunningConfidenceRemasking policy, boolean crossBlock) {
        int[][] blocks = model.blocks(canvas, blockLength);
        int[] stepsPerBlock = MaskedDiffusionLoop.spread(totalSteps, blocks.length);
        for (int b = 0; b < blocks.length; b++) {
            int start = blocks[b][0];
            int end = blocks[b][1];
            int scopeStart = crossBlock ? canvas.promptLength() : start;
            if (model.handOff(canvas, start)) {
                if (cancellation.isCancelled()) {
                    return false;
                }
                int[] first = {start};
                commit(canvas, List.of(proposer.propose(start, model.canvasLogits(canvas, first)[0])));
            }
            int masked = canvas.maskedCount(start, end);
            int steps = Math.max(1, Math.min(stepsPerBlock[b], masked));
            int[] counts = masked == 0 ? new int[0] : schedule.counts(masked, steps);
            int s = 0;
            while (canvas.maskedCount(scopeStart, end) > 0) {
                if (cancellation.isCancelled()) {
                    return false;
                }
                int remaining = canvas.maskedCount(scopeStart, end);
                int count = s < counts.length ? Math.min(counts[s], remaining) : remaining;
                if (count > 0) {
                    int[] positions = canvas.maskedPositions(scopeStart, end);
                    float[][] logits = model.canvasLogits(canvas, positions);
                    List<Proposal> proposals = new ArrayList<>(positions.length);
                    for (int i = 0; i < positions.length; i++) {
                        proposals.add(proposer.propose(positions[i], logits[i]));
                    }
                    StepView view = new StepView(canvas, start, end, s, counts.length, output.steps(),
                            proposer.random());
                    commit(canvas, policy.choose(view, proposals, count));
                }
                s++;
            }
            if (!crossBlock && !output.release(end)) {
                return true;
            }
        }
        if (crossBlock) {
            output.release(canvas.length());
        }
        return true;
    }

    private void commit(Canvas canvas, List<Proposal> chosen) {
        int stamp = output.steps();
        for (Proposal p : chosen) {
            if (canvas.isMasked(p.position())) {
                canvas.commit(p.position(), p.token(), stamp);
                proposer.committed(p.token());
                output.record(p);
            }
        }
        output.step();
    }
}
