package dev.arbor.benchmarks;

/** A hand-written greedy decoding loop over one ONNX graph: the baseline Arbor's overhead is measured against. */
interface GreedyLoop extends AutoCloseable {
    /** Greedy from {@code bos}; returns [time to first token ns, total ns] and fills {@code out} with the ids. */
    long[] run(int bos, int[] out) throws Exception;

    /** The id of the largest logit (the lowest among ties), as a hand-written loop picks it. */
    static int argmax(java.nio.FloatBuffer logits) {
        int best = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int v = 0; v < logits.capacity(); v++) {
            float x = logits.get(v);
            if (x > max) {
                max = x;
                best = v;
            }
        }
        return best;
    }
}
