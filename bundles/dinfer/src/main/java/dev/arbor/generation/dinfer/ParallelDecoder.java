package dev.arbor.generation.dinfer;

import dev.arbor.diffusion.Proposal;
import java.util.List;

/**
 * dInfer's decoding strategy ({@code parallel_strategy.py}): from one forward's logits over the current block's
 * masked positions, decide which positions to commit and to what. Always commits at least one. One instance per
 * request; decoders with per-block state clear it in {@link #blockDone}.
 */
interface ParallelDecoder {

    /**
     * @param iteration the forward's index within the block (0 for the first)
     * @param positions the block's masked positions, ascending
     * @param logits    the logit row predicting each of {@code positions}
     */
    List<Proposal> decode(int iteration, int[] positions, float[][] logits);

    /** The block is complete. */
    default void blockDone() {
    }
}
