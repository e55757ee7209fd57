package dev.arbor.backend.djl;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import java.util.BitSet;
import java.util.function.IntUnaryOperator;

/**
 * The additive attention bias {@code [B, 1, Lq, P+Lq]} of a request: 0 where new query q may see key k (state slot
 * k < P, or new token k - P), {@link #HIDDEN} elsewhere. The same contract as the Arbor ONNX export's
 * {@code attention_bias} input (see the onnxruntime backend) and as {@code Llama2cReferenceModel}'s visibility:
 * Causal sees slots and new tokens up to itself, Full sees everything, Segments sees keys whose segment is at most
 * the query's, Explicit sees the bits set; padding keys (left-padded new tokens and padding slots the state
 * remembers) are hidden from every query, and a padding query sees only itself so its ignored activations stay
 * finite.
 */
final class AttentionBias {
    /** Additive bias of a hidden key: exp(-1e9 - max) is exactly 0 in float. */
    static final float HIDDEN = -1e9f;

    /** Which state slots of which row hold real tokens. */
    interface SlotValidity {
        boolean valid(int row, int slot);
    }

    private AttentionBias() {
    }

    /**
     * The bias for {@code base} (without padding) and left-padding {@code newValid} (null: none), row-major.
     *
     * @throws ArborException INVALID_INPUT when a segment or visibility matrix does not match the request's shape
     */
    static float[] build(AttentionSpec base, SlotValidity slots, boolean[][] newValid, int batch, int past,
                         int lq) {
        int total = past + lq;
        AttentionSpec.Segments segments = base instanceof AttentionSpec.Segments s ? s : null;
        AttentionSpec.Explicit explicit = base instanceof AttentionSpec.Explicit e ? e : null;
        if (segments != null) {
            checkMatrix("querySegment", segments.querySegment().length, batch,
                    b -> segments.querySegment()[b] == null ? -1 : segments.querySegment()[b].length, lq);
            checkMatrix("keySegment", segments.keySegment().length, batch,
                    b -> segments.keySegment()[b] == null ? -1 : segments.keySegment()[b].length, total);
        }
        if (explicit != null) {
            checkMatrix("visible", explicit.visible().length, batch,
                    b -> explicit.visible()[b] == null ? -1 : explicit.visible()[b].length, lq);
        }
        long cells = (long) batch * lq * total;
        if (cells > Integer.MAX_VALUE - 8) {
            throw ArborException.invalid("attention bias of " + batch + " x " + lq + " x " + total + " cells is too "
                    + "large; split the request into smaller chunks");
        }
        boolean full = base instanceof AttentionSpec.Full;
        float[] bias = new float[(int) cells];
        int at = 0;
        for (int b = 0; b < batch; b++) {
            for (int q = 0; q < lq; q++) {
                boolean queryValid = newValid == null || newValid[b][q];
                BitSet bits = explicit != null ? explicit.visible()[b][q] : null;
                if (explicit != null && bits == null) {
                    throw ArborException.invalid("Explicit attention: visible[" + b + "][" + q + "] is null");
                }
                for (int k = 0; k < total; k++) {
                    boolean keyValid = k < past ? slots.valid(b, k) : newValid == null || newValid[b][k - past];
                    boolean visible;
                    if (!queryValid) {
                        visible = k == past + q;
                    } else if (!keyValid) {
                        visible = false;
                    } else if (full) {
                        visible = true;
                    } else if (segments != null) {
                        visible = segments.keySegment()[b][k] <= segments.querySegment()[b][q];
                    } else if (explicit != null) {
                        visible = bits.get(k);
                    } else {
                        visible = k <= past + q;
                    }
                    bias[at++] = visible ? 0f : HIDDEN;
                }
            }
        }
        return bias;
    }

    static void checkMatrix(String what, int rows, int batch, IntUnaryOperator width, int expected) {
        if (rows != batch) {
            throw ArborException.invalid(what + " has " + rows + " rows, the request has " + batch);
        }
        for (int b = 0; b < batch; b++) {
            int w = width.applyAsInt(b);
            if (w != expected) {
                throw ArborException.invalid(what + "[" + b + "] has " + (w < 0 ? "no entries" : w + " entries")
                        + ", expected " + expected);
            }
        }
    }
}
