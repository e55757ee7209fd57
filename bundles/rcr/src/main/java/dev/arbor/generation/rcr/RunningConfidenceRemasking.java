package dev.arbor.generation.rcr;

import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.RemaskingPolicy;
import dev.arbor.diffusion.StepView;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Running confidence remasking (RCR) from MDPO: He et al. 2025, "MDPO: Overcoming the Training-Inference Divide of
 * Masked Diffusion Language Models" (arXiv:2508.13148; {@code autonomousvision/mdpo src/mdlm_generation_utils.py
 * diffusion_generate}, {@code rcr=True}; METHODS.md §3.7). Every step decodes all masked positions of the block
 * (and of earlier blocks, see below) and records each token's confidence at the time it was decoded (its running confidence); then, to keep the schedule,
 * the {@code K'} tokens of the block with the lowest running confidence go back to MASK, where {@code K'} is what the
 * schedule leaves masked after this step. So after step {@code s} exactly the scheduled number of tokens is decoded,
 * and an early low-confidence choice can be revised once better tokens are found elsewhere.
 *
 * <p>Done here as an equivalent choice: among the new proposals and the block's tokens this policy decoded earlier,
 * the {@code K'} with the lowest confidence stay (or go back to) MASK, the other proposals are committed. Ties are
 * broken towards remasking the later position.
 *
 * <p><b>Across blocks</b> ({@code crossBlock}, METHODS.md §3.7 {@code allowCrossBlockRemask}, default true as in the
 * reference): the reference keeps running confidences for the whole sequence, so in semi-autoregressive mode a token
 * of an earlier, completed block whose running confidence is among the lowest goes back to MASK and is decoded again
 * in a later step; with {@code crossBlock} the candidates are every token this policy decoded before the current
 * block's end, and the caller ({@link RcrLoop}) proposes the masked positions of the earlier blocks too. Without it,
 * only the current block is ever remasked and completed blocks are final (so they can be streamed at once).
 * The loop makes no forward for a step whose scheduled count is 0 (possible with the cosine schedule);
 * the reference would still re-decode there and could swap a low-confidence token for a better one.
 * Stateful: one instance per request.
 */
public final class RunningConfidenceRemasking implements RemaskingPolicy {
    private final Map<Integer, Double> running = new HashMap<>();
    private final boolean crossBlock;
    private int blockStart = -1;
    private int remasked;
    private int remaskedEarlier;

    /** @param crossBlock whether tokens of earlier blocks can be remasked (the reference's behaviour) */
    public RunningConfidenceRemasking(boolean crossBlock) {
        this.crossBlock = crossBlock;
    }

    /** Tokens put back to MASK so far. */
    public int remasked() {
        return remasked;
    }

    /** Of {@link #remasked()}, those that belonged to a block before the current one. */
    public int remaskedEarlierBlocks() {
        return remaskedEarlier;
    }

    @Override
    public List<Proposal> choose(StepView step, List<Proposal> proposals, int count) {
        if (!crossBlock && step.blockStart() != blockStart) {
            // A new block: the previous block is complete and final, its running confidences no longer matter.
            running.clear();
            blockStart = step.blockStart();
        }
        Canvas canvas = step.canvas();
        int scopeStart = crossBlock ? canvas.promptLength() : step.blockStart();
        int keepMasked = Math.max(0, proposals.size() - count);
        List<double[]> candidates = new ArrayList<>(); // {confidence, position}
        for (Proposal p : proposals) {
            candidates.add(new double[] {p.confidence(), p.position()});
        }
        for (Map.Entry<Integer, Double> e : running.entrySet()) {
            int position = e.getKey();
            if (position >= scopeStart && position < step.blockEnd() && !canvas.isMasked(position)) {
                candidates.add(new double[] {e.getValue(), position});
            }
        }
        candidates.sort((a, b) -> a[0] != b[0] ? Double.compare(a[0], b[0]) : Double.compare(b[1], a[1]));
        Set<Integer> lowest = new HashSet<>();
        for (int i = 0; i < keepMasked && i < candidates.size(); i++) {
            lowest.add((int) candidates.get(i)[1]);
        }
        for (int position : lowest) {
            if (!canvas.isMasked(position)) {
                canvas.remask(position);
                running.remove(position);
                remasked++;
                remaskedEarlier += position < step.blockStart() ? 1 : 0;
            }
        }
        List<Proposal> chosen = new ArrayList<>(proposals.size() - keepMasked);
        for (Proposal p : proposals) {
            if (!lowest.contains(p.position())) {
                chosen.add(p);
                running.put(p.position(), p.confidence());
            }
        }
        return chosen;
    }
}
