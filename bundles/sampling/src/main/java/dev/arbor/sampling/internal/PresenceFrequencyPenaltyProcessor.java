package dev.arbor.sampling.internal;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.Arrays;
import java.util.Set;

/**
 * OpenAI presence and frequency penalties, one pass for both: with {@code c_t} the number of times token t
 * was <em>generated</em> so far (the prompt does not count),
 * {@code l_t <- l_t - c_t * frequency_penalty - (c_t > 0 ? presence_penalty : 0)}.
 * Source: OpenAI API reference, "Parameter details: frequency and presence penalties". One part rather than
 * two because OpenAI defines them as one formula over one count, and requests set them together.
 * Computed in double, rounded once to float. History ids outside the row are skipped.
 */
final class PresenceFrequencyPenaltyProcessor implements LogitsProcessor {
    private final double presence;
    private final double frequency;

    PresenceFrequencyPenaltyProcessor(double presence, double frequency) {
        this.presence = presence;
        this.frequency = frequency;
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        int[] generated = context.generated();
        Arrays.sort(generated);
        int i = 0;
        while (i < generated.length) {
            int t = generated[i];
            int j = i;
            while (j < generated.length && generated[j] == t) {
                j++;
            }
            int count = j - i;
            if (t >= 0 && t < logits.length) {
                logits[t] = (float) (logits[t] - count * frequency - presence);
            }
            i = j;
        }
    }

    @Override
    public Set<Trait> traits() {
        return Traits.HISTORY;
    }
}
