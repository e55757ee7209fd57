package dev.arbor.processor.structured.internal;

import java.util.SplittableRandom;

/** Softmax sampling of a logits row (test support). */
final class Sampling {
    private Sampling() {
    }

    static int sample(float[] logits, SplittableRandom random) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        if (max == Double.NEGATIVE_INFINITY) {
            throw new AssertionError("every token is masked");
        }
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        double u = random.nextDouble() * sum;
        int last = -1;
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] == Float.NEGATIVE_INFINITY) {
                continue;
            }
            last = i;
            u -= Math.exp(logits[i] - max);
            if (u <= 0) {
                return i;
            }
        }
        return last;
    }
}
