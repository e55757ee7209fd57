package dev.arbor.watermark.lbw.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.BitSet;
import java.util.Set;

/**
 * Embeds LBW in one output (METHODS.md §3.3 "embed"). At its first call the processor draws the output's list:
 * <b>exactly one {@code context.random().nextLong()}</b> r from the request's seeded RNG (before the selector's
 * draw of that step), and list {@code HMAC-SHA256(key, r) mod N} ({@link LbwScheme#drawList}): reproducible for a
 * seeded request, uniform over the pool, and secret without the key even when the seed is public. Then, on every
 * row: <b>soft</b> {@code logits[v] += δ} for v in the list; <b>hard</b> {@code logits[v] = −∞} for every v of the
 * vocabulary range that is not in the list (ids outside the range, e.g. text or special tokens of an image model,
 * are untouched). The range is resolved from the first row ({@code all} = the whole row).
 */
final class LbwProcessor implements LogitsProcessor {
    private final LbwScheme scheme;
    private final float bias;
    private final boolean hard;
    private BitSet green;
    private int start;
    private int end;
    private int drawn = -1;

    LbwProcessor(LbwScheme scheme, double bias, boolean hard) {
        this.scheme = scheme;
        this.bias = (float) bias;
        this.hard = hard;
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        if (green == null) {
            int[] range = scheme.explicitRange();
            start = range == null ? 0 : range[0];
            end = range == null ? logits.length : range[1];
            if (end > logits.length) {
                throw ArborException.invalid("option '" + LbwScheme.VOCAB_RANGE + "' " + start + ":" + end
                        + " of part '" + LbwProcessorFactory.PART + "' reaches past the model's " + logits.length
                        + " logits");
            }
            if (hard && scheme.listSize(end - start) == 0) {
                throw ArborException.invalid("part '" + LbwProcessorFactory.PART + "' in mode hard with "
                        + LbwScheme.GREEN_RATIO + " " + scheme.gamma + " keeps no token of the " + (end - start)
                        + " in its range; raise " + LbwScheme.GREEN_RATIO);
            }
            drawn = scheme.drawList(context.random().nextLong());
            green = scheme.list(drawn, start, end);
        }
        if (hard) {
            for (int v = start; v < end; v++) {
                if (!green.get(v)) {
                    logits[v] = Float.NEGATIVE_INFINITY;
                }
            }
        } else {
            for (int v = green.nextSetBit(0); v >= 0; v = green.nextSetBit(v + 1)) {
                logits[v] += bias;
            }
        }
    }

    /** The list this output uses, or -1 before the first row (tests). */
    int drawnList() {
        return drawn;
    }

    @Override
    public Set<Trait> traits() {
        return LbwProcessorFactory.TRAITS;
    }
}
