package dev.arbor.backend.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The present keys and values of one batched decode run ({@link BatchedDecode}), kept as the batch's tensors
 * {@code [n, kvHeads, S, headSize]} and shared by the n single-row states that took part: row r belongs to one state,
 * whose slots start after {@code pads[r]} left-padding slots. While the same states keep decoding together, the
 * next run reads these tensors as they are, so a steady batch costs no per-row tensor work at all; a state that
 * needs its own tensors (a run alone, a state edit) takes a view of its row ({@link #row}) and lets go of the batch.
 * The tensors are freed when the last state lets go. Thread-safe release; the rest is read-only.
 */
final class SharedKv {
    private final NDManager manager;
    private final NDList tensors;
    private final int[] pads;
    private final AtomicInteger holders;

    /** Takes {@code tensors} into {@code manager} (its own; closed with the last release), one holder per row. */
    SharedKv(NDManager manager, NDList tensors, int[] pads) {
        this.manager = manager;
        this.tensors = tensors;
        this.pads = pads;
        this.holders = new AtomicInteger(pads.length);
        tensors.attach(manager);
    }

    /** Rows of the batch. */
    int rows() {
        return pads.length;
    }

    /** States still holding a row. */
    int holders() {
        return holders.get();
    }

    /** Left-padding slots of every row, in row order (not a copy: do not modify). */
    int[] pads() {
        return pads;
    }

    /** The batch tensors (key, value per layer); valid until the last release. */
    NDList tensors() {
        return tensors;
    }

    /** Row {@code r} without its padding, per tensor {@code [1, kvHeads, S - pad, headSize]}: views in target. */
    NDList row(int r, NDManager target) {
        NDList out = new NDList(tensors.size());
        NDIndex index = new NDIndex("{}:{}, :, {}:", r, r + 1, pads[r]);
        for (NDArray t : tensors) {
            out.add(t.get(target, index));
        }
        return out;
    }

    /** One holder lets go; the last one frees the tensors (views taken by {@link #row} stay valid). */
    void release() {
        if (holders.decrementAndGet() == 0) {
            manager.close();
        }
    }
}
