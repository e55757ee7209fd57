package dev.arbor.sampling.internal;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.Arrays;
import java.util.Set;

/**
 * Repetition penalty (Keskar et al. 2019, CTRL): for every distinct token t in the whole history (prompt
 * included), {@code l_t <- l_t < 0 ? l_t * penalty : l_t / penalty}, so penalty > 1 always lowers the
 * token's probability; applied once per distinct
 * token, however often it occurs. Source: HF {@code RepetitionPenaltyLogitsProcessor} (gather, where, scatter).
 * History ids outside the logits row are skipped (a row narrower than the tokenizer's id space cannot hold them).
 */
final class RepetitionPenaltyProcessor implements LogitsProcessor {
    private final float penalty;

    RepetitionPenaltyProcessor(double penalty) {
        if (!(penalty > 0)) {
            throw new IllegalArgumentException("repetition_penalty must be > 0, got " + penalty);
        }
        // HF multiplies float32 scores by a Python float, i.e. in float32: do the same.
        this.penalty = (float) penalty;
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        int[] history = context.tokens();
        // Sorting the (short) history dedupes it without a vocabulary-sized scratch array.
        Arrays.sort(history);
        for (int i = 0; i < history.length; i++) {
            int t = history[i];
            if ((i > 0 && history[i - 1] == t) || t < 0 || t >= logits.length) {
                continue;
            }
            float l = logits[t];
            logits[t] = l < 0 ? l * penalty : l / penalty;
        }
    }

    @Override
    public Set<Trait> traits() {
        return Traits.HISTORY;
    }
}
