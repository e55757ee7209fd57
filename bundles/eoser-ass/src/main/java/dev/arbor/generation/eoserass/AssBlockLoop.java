package dev.arbor.generation.eoserass;

import dev.arbor.api.generation.Cancellation;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.CanvasOutput;
import dev.arbor.diffusion.DiffusionModel;
import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.RemaskingPolicy;
import dev.arbor.diffusion.StepView;
import dev.arbor.diffusion.TokenProposer;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs an {@link AssBlockPlan} as {@code ass_generate} / {@code eoser_ass_generate} do: blocks left to right, each
 * with its global steps; per step one stateless forward, a proposal for every masked position of the block, and the
 * policy's choice of the step's count. The policy sees the global step index and the total {@code S}
 * ({@link StepView#step()}, {@link StepView#steps()}), which is what the reference passes to {@code ass_sampling}
 * ({@code step_idx=i, total_steps=steps}), so EOSER's ascending ramp runs over the whole generation. A completed
 * block is released; decoding stops once the output has ended.
 */
final class AssBlockLoop {
    private final DiffusionModel model;
    private final TokenProposer proposer;
    private final CanvasOutput output;
    private final Cancellation cancellation;

    AssBlockLoop(DiffusionModel model, TokenProposer proposer, CanvasOutput output, Cancellation cancellation) {
        this.model = model;
        this.proposer = proposer;
        this.output = output;
        this.cancellation = cancellation;
    }

    /** Decodes the canvas's region with {@code plan}; returns false when the request was cancelled. */
    boolean run(Canvas canvas, AssBlockPlan plan, RemaskingPolicy policy) {
        int total = plan.counts().length;
        int start = canvas.promptLength();
        for (int b = 0; b < plan.sizes().length; b++) {
            int end = start + plan.sizes()[b];
            for (int i : plan.blockSteps()[b]) {
                if (cancellation.isCancelled()) {
                    return false;
                }
                step(canvas, policy, start, end, i, total, plan.counts()[i]);
            }
            // The counts fill each block exactly; should a policy leave MASK anyway, commit its choice of the rest.
            while (canvas.maskedCount(start, end) > 0) {
                if (cancellation.isCancelled()) {
                    return false;
                }
                step(canvas, policy, start, end, total - 1, total, canvas.maskedCount(start, end));
            }
            if (!output.release(end)) {
                return true;
            }
            start = end;
        }
        return true;
    }

    private void step(Canvas canvas, RemaskingPolicy policy, int start, int end, int i, int total, int scheduled) {
        int[] positions = canvas.maskedPositions(start, end);
        int count = Math.min(scheduled, positions.length);
        if (count == 0) {
            return;
        }
        float[][] logits = model.canvasLogits(canvas, positions);
        List<Proposal> proposals = new ArrayList<>(positions.length);
        for (int j = 0; j < positions.length; j++) {
            proposals.add(proposer.propose(positions[j], logits[j]));
        }
        StepView view = new StepView(canvas, start, end, i, total, output.steps(), proposer.random());
        int stamp = output.steps();
        for (Proposal p : policy.choose(view, proposals, count)) {
            if (canvas.isMasked(p.position())) {
                canvas.commit(p.position(), p.token(), stamp);
                proposer.committed(p.token());
                output.record(p);
            }
        }
        output.step();
    }
}
