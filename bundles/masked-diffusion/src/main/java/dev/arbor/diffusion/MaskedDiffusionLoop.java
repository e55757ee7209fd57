package dev.arbor.diffusion;

import dev.arbor.api.generation.Cancellation;
import java.util.ArrayList;
import java.util.List;

/**
 * The MDLM step skeleton of METHODS.md §2.3 (LLaDA, Nie et al. 2025, "Large Language Diffusion Models",
 * arXiv:2502.09992, {@code generate.py}): blocks left to right; per block a fixed number of steps with per-step
 * counts from an {@link UnmaskSchedule}; per step one stateless forward of the canvas, a {@link Proposal} for every
 * masked position of the current block (later blocks are not decoded), and a {@link RemaskingPolicy} choosing which
 * to commit. Strategies that only change the schedule, the confidence or the choice (ASS, EOSER, entropy order,
 * running confidence remasking) reuse this loop with their own pieces.
 *
 * <p>Steps: {@code steps} are spread over the blocks as evenly as possible (LLaDA asks {@code steps} to be a
 * multiple of the number of blocks and gives each the quotient; this is the same then), each block getting at least
 * one and at most as many as it has MASK tokens. A step whose scheduled count is 0 makes no forward (it would change
 * nothing but the RNG). If the policy leaves MASK tokens in the block after its scheduled steps (a policy that
 * remasks), extra steps commit its choice of all the rest, so every block ends decoded. A completed block is
 * released to the output; the loop stops early when the output ends (stop token or sink), since nothing after that
 * is emitted. A block-causal model with NEXT alignment first decodes each block's first position alone
 * ({@link DiffusionModel#handOff}); the schedule then covers the rest of the block.
 */
public final class MaskedDiffusionLoop {

    /**
     * @param blockLength length of a block (0 = the whole region for bidirectional models, the model's block size
     *                    for block-causal ones)
     * @param steps       denoising steps over the whole generation region
     */
    public record Settings(int blockLength, int steps, UnmaskSchedule schedule, RemaskingPolicy policy) {
    }

    private final DiffusionModel model;
    private final TokenProposer proposer;
    private final CanvasOutput output;
    private final Cancellation cancellation;

    public MaskedDiffusionLoop(DiffusionModel model, TokenProposer proposer, CanvasOutput output,
                               Cancellation cancellation) {
        this.model = model;
        this.proposer = proposer;
        this.output = output;
        this.cancellation = cancellation;
    }

    /** Decodes {@code canvas}; returns false when the request was cancelled before it finished. */
    public boolean run(Canvas canvas, Settings settings) {
        int[][] blocks = model.blocks(canvas, settings.blockLength());
        int[] stepsPerBlock = spread(settings.steps(), blocks.length);
        for (int b = 0; b < blocks.length; b++) {
            int start = blocks[b][0];
            int end = blocks[b][1];
            if (model.handOff(canvas, start)) {
                if (cancellation.isCancelled()) {
                    return false;
                }
                int[] first = {start};
                commit(canvas, List.of(proposer.propose(start, model.canvasLogits(canvas, first)[0])));
            }
            int masked = canvas.maskedCount(start, end);
            int steps = Math.max(1, Math.min(stepsPerBlock[b], masked));
            int[] counts = masked == 0 ? new int[0] : settings.schedule().counts(masked, steps);
            int s = 0;
            while (canvas.maskedCount(start, end) > 0) {
                if (cancellation.isCancelled()) {
                    return false;
                }
                int remaining = canvas.maskedCount(start, end);
                int count = s < counts.length ? Math.min(counts[s], remaining) : remaining;
                if (count > 0) {
                    step(canvas, settings.policy(), start, end, s, counts.length, count);
                }
                s++;
            }
            if (!output.release(end)) {
                return true;
            }
        }
        return true;
    }

    private void step(Canvas canvas, RemaskingPolicy policy, int start, int end, int s, int steps, int count) {
        int[] positions = canvas.maskedPositions(start, end);
        float[][] logits = model.canvasLogits(canvas, positions);
        List<Proposal> proposals = new ArrayList<>(positions.length);
        for (int i = 0; i < positions.length; i++) {
            proposals.add(proposer.propose(positions[i], logits[i]));
        }
        StepView view = new StepView(canvas, start, end, s, steps, output.steps(), proposer.random());
        commit(canvas, policy.choose(view, proposals, count));
    }

    /** Commits {@code chosen} to the canvas, the history and the output, then streams the canvas as one step. */
    void commit(Canvas canvas, List<Proposal> chosen) {
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

    /** {@code total} split over {@code parts} as evenly as possible, the first ones one larger. */
    public static int[] spread(int total, int parts) {
        int[] out = new int[parts];
        for (int i = 0; i < parts; i++) {
            out[i] = total / parts + (i < total % parts ? 1 : 0);
        }
        return out;
    }
}
