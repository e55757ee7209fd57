package dev.arbor.generation.dinfer;

import dev.arbor.api.generation.GenerationContext;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.CanvasOutput;
import dev.arbor.diffusion.DiffusionModel;
import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.TokenProposer;
import java.util.List;

/**
 * dInfer's iteration manager and block runner ({@code BaseDiffusionIteration}, {@code BlockRunner} in
 * {@code generate_uniform.py}, METHODS.md §3.5): blocks left to right; within a block, forwards until no MASK is
 * left, each asking the {@link CacheManager} for logits (a refresh on the block's first {@code max(1, warmup)}
 * forwards and every {@code cacheUpdateFreq} forwards after it, when that is positive) and the {@link ParallelDecoder} for the commits.
 *
 * <p><b>Early stop</b>: once a stop token is committed in the block, every still-masked position after it (in the
 * block and beyond) is filled with that token, as dInfer fills later positions with EOS; the block's earlier
 * positions are still decoded, and generation ends with the block. The GPU loop unrolling of {@code BlockRunner}
 * is a launch optimisation with no effect on the output and is not reproduced.
 */
final class IterationManager {
    private final DiffusionModel model;
    private final TokenProposer proposer;
    private final CanvasOutput output;
    private final ParallelDecoder decoder;
    private final CacheManager cache;
    private final int cacheUpdateFreq;
    private final int warmup;
    private final boolean earlyStop;
    int refreshes;

    IterationManager(DiffusionModel model, TokenProposer proposer, CanvasOutput output, ParallelDecoder decoder,
                     CacheManager cache, int cacheUpdateFreq, int warmup, boolean earlyStop) {
        this.model = model;
        this.proposer = proposer;
        this.output = output;
        this.decoder = decoder;
        this.cache = cache;
        this.cacheUpdateFreq = cacheUpdateFreq;
        this.warmup = warmup;
        this.earlyStop = earlyStop;
    }

    /** Decodes {@code canvas} in blocks of {@code blockLength}; returns false when cancelled. */
    boolean run(Canvas canvas, int blockLength, GenerationContext context) {
        for (int[] block : model.blocks(canvas, blockLength)) {
            int start = block[0];
            int end = block[1];
            if (model.handOff(canvas, start)) {
                // Block-causal NEXT models predict a block's first position from the previous block (see
                // DiffusionModel#handOff): decode it alone first, with a full forward.
                if (context.cancellation().isCancelled()) {
                    return false;
                }
                int[] first = {start};
                commit(canvas, List.of(proposer.propose(start, cache.logits(canvas, start, end, first, true)[0])),
                        context);
                refreshes++;
            }
            int iteration = 0;
            while (canvas.maskedCount(start, end) > 0) {
                if (context.cancellation().isCancelled()) {
                    return false;
                }
                int[] positions = canvas.maskedPositions(start, end);
                boolean refresh = iteration == 0 || iteration < warmup
                        || (cacheUpdateFreq > 0 && iteration % cacheUpdateFreq == 0);
                refreshes += refresh ? 1 : 0;
                float[][] logits = cache.logits(canvas, start, end, positions, refresh);
                List<Proposal> chosen = decoder.decode(iteration, positions, logits);
                if (chosen.isEmpty()) {
                    throw new IllegalStateException("decoder committed nothing; every decoder must commit one");
                }
                commit(canvas, chosen, context);
                iteration++;
            }
            decoder.blockDone();
            if (!output.release(end)) {
                return true;
            }
        }
        return true;
    }

    private void commit(Canvas canvas, List<Proposal> chosen, GenerationContext context) {
        int stamp = output.steps();
        for (Proposal p : chosen) {
            canvas.commit(p.position(), p.token(), stamp);
            proposer.committed(p.token());
            output.record(p);
        }
        if (earlyStop) {
            int stop = firstStop(canvas, context);
            if (stop >= 0) {
                int token = canvas.token(stop);
                for (int q = stop + 1; q < canvas.length(); q++) {
                    if (canvas.isMasked(q)) {
                        canvas.commit(q, token, stamp);
                    }
                }
            }
        }
        output.step();
    }

    private static int firstStop(Canvas canvas, GenerationContext context) {
        for (int p = canvas.promptLength(); p < canvas.length(); p++) {
            if (!canvas.isMasked(p) && context.isStopToken(canvas.token(p))) {
                return p;
            }
        }
        return -1;
    }
}
