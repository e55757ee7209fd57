package dev.arbor.api.model;

/**
 * The output of one forward pass.
 *
 * @param logits [batch][row][vocab] for the rows the request asked for, in the order it asked
 * @param hidden [batch][row][hidden] when requested and supported, otherwise null
 */
public record ForwardResult(float[][][] logits, float[][][] hidden) {

    /** The logits of row {@code row} (index into the requested rows) of batch item {@code b}. */
    public float[] logits(int b, int row) {
        return logits[b][row];
    }

    /** The last requested row of batch item {@code b}: the next-token logits in autoregressive decoding. */
    public float[] last(int b) {
        float[][] rows = logits[b];
        return rows[rows.length - 1];
    }
}
