package dev.arbor.imagegen;

import java.util.Arrays;

/**
 * Restricts a logit row to codebook entries: an image generator may emit only codes ({@code 0..codes-1}); a prior's
 * class, null-class, feature-basis and level ids share its vocabulary but are inputs, never outputs. Applied
 * before the pipeline's processor chain, so top-k and top-p see codes only (their mass is renormalised over codes).
 */
public final class CodeMask {
    private CodeMask() {
    }

    /** Sets every id {@code >= codes} of {@code logits} to {@code -inf}, in place; returns {@code logits}. */
    public static float[] apply(float[] logits, int codes) {
        if (codes < logits.length) {
            Arrays.fill(logits, codes, logits.length, Float.NEGATIVE_INFINITY);
        }
        return logits;
    }
}
