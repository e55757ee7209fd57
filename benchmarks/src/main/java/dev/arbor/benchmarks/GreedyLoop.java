package dev.arbor.benchmarks;

/** A hand-written greedy decoding loop over one ONNX graph: the baseline Arbor's overhead is measured against. */
interface GreedyLoop extends AutoCloseable {
    /** Greedy from {@code bos}; returns [time to first token ns, total ns] and fills {@code out} with the ids. */
    long[] run(int bos, int[] out) throws Exception;
}
