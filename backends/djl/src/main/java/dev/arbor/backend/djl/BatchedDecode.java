package dev.arbor.backend.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import dev.arbor.api.ArborException;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import java.util.ArrayList;
import java.util.List;

/**
 * One forward for the decode steps of several requests (continuous batching): each step appends one token to its
 * own single-row {@link DjlDecodeState}, and the states hold different numbers of slots. The rows are stacked into a
 * batch of {@code n} rows over {@code S = max length} cached slots: each row's past keys and values are left-padded
 * with zeros to {@code S}, and the attention bias hides the padding (and any padding slot a state already holds), so
 * every row attends to exactly what it would alone; softmax gives the hidden keys weight exactly 0. After the run
 * the present tensors stay whole as a {@link SharedKv} that each state holds a row of: when the same states run
 * together again (the steady state of continuous batching) those tensors are the next past as they are, with the
 * same padding, so the run is the network alone; only when the batch changes are rows taken out and re-stacked.
 *
 * <p>Float rounding may differ from the unbatched run in the last bits (matrix products over n rows instead of one,
 * softmax over the zero-weight padding), never the visible keys: greedy tokens are the same.
 */
final class BatchedDecode {
    private BatchedDecode() {
    }

    /**
     * A decode step that can join a batch: one row, one token appended to a non-empty state of this backend,
     * causal or full attention without padding, its one logit row wanted.
     *
     * @param request  the caller's request (run as it is when the step runs alone)
     * @param state    the caller's state
     * @param token    the new token
     * @param position its position
     */
    record Step(ForwardRequest request, DjlDecodeState state, int token, int position) {
        /**
         * The step for {@code req}, or null when {@code req} is anything else or is invalid (then the unbatched
         * path runs it and reports the error as it always did).
         */
        static Step of(ForwardRequest req, DjlDecoderBackend backend) {
            int[][] tokens = req.tokens();
            if (tokens == null || tokens.length != 1 || tokens[0] == null || tokens[0].length != 1
                    || !(req.state() instanceof DjlDecodeState s) || s.owner() != backend || s.isClosed()
                    || s.batchSize() != 1 || s.length() == 0 || !(req.write() instanceof StateWrite.Append)) {
                return null;
            }
            AttentionSpec spec = req.attention();
            if (spec instanceof AttentionSpec.WithPadding
                    || !(spec.base() instanceof AttentionSpec.Causal || spec.base() instanceof AttentionSpec.Full)) {
                return null; // with one new query, causal and full both see every valid slot and the token itself
            }
            int[][] rows = req.logitRows();
            if (rows != null && (rows.length != 1 || rows[0] == null || rows[0].length != 1 || rows[0][0] != 0)) {
                return null;
            }
            ModelCard card = backend.card();
            int token = tokens[0][0];
            int[][] positions = req.positions();
            if (positions != null && (positions.length != 1 || positions[0] == null || positions[0].length != 1)) {
                return null;
            }
            int position = positions != null ? positions[0][0] : s.validCount(0);
            if (token < 0 || token >= card.vocabSize() || position < 0 || position >= card.maxPositions()) {
                return null;
            }
            return new Step(req, s, token, position);
        }
    }

    /**
     * Runs {@code steps} (at least two, distinct states) as one forward of {@code network} and appends each new
     * token's key and value to its state; {@code noBias} is the llama decoder's empty "nothing hidden" bias.
     *
     * @return each step's logits for its new token, in the order of {@code steps}
     */
    static List<float[]> run(List<Step> steps, Block network, ParameterStore store, NDManager manager, int layers,
                             NDArray noBias) {
        int n = steps.size();
        SharedKv common = steps.get(0).state().shared();
        // Steady batch: the same states as last run, and no one else, hold the rows of one batch: its tensors are
        // this run's past as they are, each state keeps its row and its padding (all grew by one slot).
        boolean steady = common != null && common.rows() == n && common.holders() == n;
        for (int i = 1; steady && i < n; i++) {
            steady = steps.get(i).state().shared() == common;
        }
        int[] rowOf = new int[n];
        int[] pad = new int[n];
        int longest = 0;
        for (int i = 0; i < n; i++) {
            DjlDecodeState st = steps.get(i).state();
            rowOf[i] = steady ? st.sharedRow() : i;
            longest = Math.max(longest, st.length());
        }
        long[] ids = new long[n];
        long[] positions = new long[n];
        boolean aligned = true;
        for (int i = 0; i < n; i++) {
            DjlDecodeState st = steps.get(i).state();
            int r = rowOf[i];
            ids[r] = steps.get(i).token();
            positions[r] = steps.get(i).position();
            pad[r] = steady ? common.pads()[r] : longest - st.length();
            aligned &= pad[r] == 0 && st.allSlotsValid();
        }
        // The llama decoder reads an empty bias as "nothing hidden" (see LlamaDecoder); TorchScript networks need one.
        boolean unmasked = aligned && network instanceof LlamaDecoder;
        int width = pad[rowOf[0]] + steps.get(0).state().length() + 1; // every row: padding + its slots + new token
        try (NDManager step = manager.newSubManager()) {
            NDList inputs = new NDList(3 + 2 * layers);
            inputs.add(step.create(ids, new Shape(n, 1)));
            inputs.add(step.create(positions, new Shape(n, 1)));
            inputs.add(unmasked ? noBias : step.create(bias(steps, rowOf, pad, width), new Shape(n, 1, 1, width)));
            if (steady) {
                inputs.addAll(common.tensors());
            } else {
                stackPasts(steps, pad, layers, step, inputs);
            }
            NDList out = network.forward(store, inputs, false);
            if (out.size() != 1 + 2 * layers) {
                throw ArborException.badModel("the network returned " + out.size() + " outputs, expected logits "
                        + "and " + 2 * layers + " present key/value tensors", null);
            }
            NDArray logits = out.get(0);
            Shape shape = logits.getShape();
            if (shape.dimension() != 3 || shape.get(0) != n || shape.get(1) != 1) {
                throw ArborException.badModel("the network returned logits of shape " + shape + " for " + n
                        + " rows of one token", null);
            }
            int vocab = (int) shape.get(2);
            float[] data = logits.toFloatArray();
            List<float[]> result = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                float[] row = new float[vocab];
                System.arraycopy(data, rowOf[i] * vocab, row, 0, vocab);
                result.add(row);
            }
            // the presents become the states' shared KV, in a manager of their own that the last holder closes
            SharedKv next = new SharedKv(manager.newSubManager(), out.subNDList(1), pad);
            for (int i = 0; i < n; i++) {
                steps.get(i).state().appendShared(next, rowOf[i]); // lets go of the previous batch or own tensors
            }
            return result;
        }
    }

    /** Row i's past keys and values left-padded with zeros to the longest, stacked into {@code inputs}. */
    private static void stackPasts(List<Step> steps, int[] pad, int layers, NDManager step, NDList inputs) {
        int n = steps.size();
        NDList[] pasts = new NDList[n];
        for (int i = 0; i < n; i++) {
            pasts[i] = steps.get(i).state().kv(); // a state still holding a batch row takes it as its own view
        }
        List<NDArray> rows = new ArrayList<>(n);
        for (int t = 0; t < 2 * layers; t++) {
            rows.clear();
            for (int i = 0; i < n; i++) {
                NDArray past = pasts[i].get(t);
                if (pad[i] > 0) { // torch pad order: last dimension first; zeros before the row's slots
                    past = past.pad(new Shape(0, 0, pad[i], 0), 0f);
                    past.attach(step);
                }
                rows.add(past);
            }
            NDArray stacked = NDArrays.concat(new NDList(rows), 0);
            stacked.attach(step); // the result belongs to the first row's manager, a state's: move it
            inputs.add(stacked);
        }
    }

    /** The additive bias [n, 1, 1, width]: padding and a state's own padding slots hidden, the new token visible. */
    private static float[] bias(List<Step> steps, int[] rowOf, int[] pad, int width) {
        float[] bias = new float[steps.size() * width];
        for (int i = 0; i < steps.size(); i++) {
            DjlDecodeState st = steps.get(i).state();
            int r = rowOf[i];
            int at = r * width;
            for (int k = 0; k < width - 1; k++) {
                bias[at + k] = k < pad[r] || !st.slotValid(0, k - pad[r]) ? AttentionBias.HIDDEN : 0f;
            }
        }
        return bias;
    }
}
