package dev.arbor.generation.dinfer;

import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.StateWrite;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.DiffusionModel;

/**
 * dInfer's {@code prefix} and {@code dual} caches (the base iteration of {@code generate_uniform.py}, METHODS.md
 * §3.5). A refresh is a full forward of the canvas that stores every position's KV. Between refreshes:
 * <ul>
 *   <li><b>prefix</b>: the cache keeps the KV of the positions before the fed range and the canvas is fed from the
 *       block's first needed row to the end;</li>
 *   <li><b>dual</b>: the cache keeps every position's KV and only the block (from its first needed row) is fed; the
 *       cached slots of the fed positions are hidden, so each position is seen once, with its current token.</li>
 *   <li><b>vicinity</b> ({@code VicinityCacheIteration}): as dual, but the fed window reaches {@code prefixLook}
 *       positions before and {@code afterLook} after the block, so the KV of its neighbourhood is fresh too. dInfer
 *       writes the window's KV into the cache; here the window's cached slots are hidden and the window is fed
 *       again every forward, which reads the same keys.</li>
 * </ul>
 * Under NEXT alignment the first needed row is the one before the block. Both are approximations for bidirectional
 * models (cached keys were computed against an older canvas); for block-causal models the prefix part is exact.
 */
final class KvCache implements CacheManager {
    private final DiffusionModel model;
    private final boolean dual;
    private final int prefixLook;
    private final int afterLook;
    private DecodeState state;

    /** A prefix cache ({@code dual} false) or a dual/vicinity cache with the given look-around. */
    KvCache(DiffusionModel model, boolean dual, int prefixLook, int afterLook) {
        this.model = model;
        this.dual = dual;
        this.prefixLook = prefixLook;
        this.afterLook = afterLook;
        this.state = model.backend().newState(1);
    }

    @Override
    public float[][] logits(Canvas canvas, int start, int end, int[] positions, boolean refresh) {
        int length = canvas.length();
        int first = Math.max(0, Math.min(start, model.rowFor(start)) - (dual ? prefixLook : 0));
        if (refresh) {
            // A fresh state rather than truncate(0), so the dual cache needs no STATE_TRUNCATE.
            state.close();
            state = model.backend().newState(1);
            int[] all = DiffusionModel.range(0, length);
            ForwardRequest request = ForwardRequest.builder(new int[][] {canvas.tokens()})
                    .positions(new int[][] {all}).attention(model.attention(all, all)).state(state)
                    .write(StateWrite.APPEND).logitRows(new int[][] {rows(positions, 0)}).build();
            float[][] logits = model.checked(model.forward(request).logits()[0], positions.length);
            if (!dual) {
                state.truncate(first);
            }
            return logits;
        }
        int cached = state.length();
        int feedEnd = dual ? Math.min(length, end + afterLook) : length;
        int[] queries = DiffusionModel.range(first, feedEnd);
        int[] keys = new int[cached + queries.length];
        for (int k = 0; k < cached; k++) {
            keys[k] = k >= first && k < feedEnd ? -1 : k;
        }
        System.arraycopy(queries, 0, keys, cached, queries.length);
        ForwardRequest request = ForwardRequest.builder(new int[][] {canvas.tokens(first, feedEnd)})
                .positions(new int[][] {queries}).attention(model.attention(keys, queries)).state(state)
                .write(StateWrite.NONE).logitRows(new int[][] {rows(positions, first)}).build();
        return model.checked(model.forward(request).logits()[0], positions.length);
    }

    private int[] rows(int[] positions, int first) {
        int[] rows = new int[positions.length];
        for (int i = 0; i < positions.length; i++) {
            rows[i] = model.rowFor(positions[i]) - first;
        }
        return rows;
    }

    @Override
    public void close() {
        state.close();
    }
}
