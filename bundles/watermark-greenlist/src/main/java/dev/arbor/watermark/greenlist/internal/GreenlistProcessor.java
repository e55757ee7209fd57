package dev.arbor.watermark.greenlist.internal;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.BitSet;
import java.util.Set;

/**
 * Adds δ to the logits of the green list of the current context (Kirchenbauer et al. 2023, Algorithm 2 "soft red
 * list"), as HF {@code WatermarkLogitsProcessor.__call__}:
 * <ul>
 *   <li>fewer than {@code context_width} tokens of history (prompt included): the row is left as is (HF skips
 *       seeding for that step);</li>
 *   <li>{@code lefthash}: green list of the history's last token, over V = the row's length; every green id gets
 *       {@code + δ} (float arithmetic, as HF adds a Python float to float32 scores; −∞ stays −∞);</li>
 *   <li>{@code selfhash} (HF {@code _score_rejection_sampling}): the 40 highest-scoring ids of the incoming row
 *       (descending; equal scores by ascending id) are each checked against the green list seeded by the window
 *       that ends with that candidate; those inside their own list get {@code + δ}, every other id is unchanged.</li>
 * </ul>
 * Reads no randomness; a pure function of the row and the history.
 */
final class GreenlistProcessor implements LogitsProcessor {
    private final GreenlistScheme scheme;
    private final float bias;

    GreenlistProcessor(GreenlistScheme scheme, double bias) {
        this.scheme = scheme;
        this.bias = (float) bias;
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        int length = context.length();
        if (length < scheme.contextWidth) {
            return;
        }
        int vocab = logits.length;
        if (!scheme.selfhash) {
            int[] window = {context.token(length - 1)};
            BitSet green = scheme.greenList(scheme.seed(window, 1), vocab);
            for (int id = green.nextSetBit(0); id >= 0; id = green.nextSetBit(id + 1)) {
                logits[id] += bias;
            }
            return;
        }
        int w = scheme.contextWidth;
        int[] window = new int[w];
        for (int i = 0; i < w - 1; i++) {
            window[i] = context.token(length - (w - 1) + i);
        }
        int[] candidates = topCandidates(logits, Math.min(GreenlistScheme.SELFHASH_CANDIDATES, vocab));
        boolean[] boost = new boolean[candidates.length];
        for (int i = 0; i < candidates.length; i++) {
            window[w - 1] = candidates[i];
            boost[i] = scheme.greenList(scheme.seed(window, w), vocab).get(candidates[i]);
        }
        // decided on the incoming row, applied afterwards (HF reads `scores`, writes `scores_processed`)
        for (int i = 0; i < candidates.length; i++) {
            if (boost[i]) {
                logits[candidates[i]] += bias;
            }
        }
    }

    /** Ids of the {@code k} largest logits, descending, equal logits by ascending id (one pass, insertion). */
    static int[] topCandidates(float[] logits, int k) {
        int[] top = new int[k];
        int size = 0;
        for (int id = 0; id < logits.length; id++) {
            float l = logits[id];
            // ids arrive in ascending order, so a tie never displaces an earlier id
            if (size == k && !(l > logits[top[k - 1]])) {
                continue;
            }
            int pos = size == k ? k - 1 : size++;
            while (pos > 0 && l > logits[top[pos - 1]]) {
                top[pos] = top[pos - 1];
                pos--;
            }
            top[pos] = id;
        }
        return top;
    }

    @Override
    public Set<Trait> traits() {
        return GreenlistProcessorFactory.TRAITS;
    }
}
