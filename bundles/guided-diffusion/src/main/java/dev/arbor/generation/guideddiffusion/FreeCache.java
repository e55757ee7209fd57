package dev.arbor.generation.guideddiffusion;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.StateWrite;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.DiffusionModel;

/**
 * FreeCache (Hu et al. 2025, "Accelerating Diffusion Language Model Inference via Efficient KV Caching and Guided
 * Diffusion", arXiv:2505.21467; {@code ZhanqiuHu/flash-dlm-experimental}; METHODS.md §3.9): the KV of the canvas
 * before a "clean" index is computed once and frozen; every later denoising step feeds only the suffix from the clean
 * index, attending to the frozen KV. Modes:
 * <ul>
 *   <li>{@link Mode#PROMPT}: the clean index is the prompt's end; the first step runs the whole canvas and keeps the
 *       prompt's KV.</li>
 *   <li>{@link Mode#COMMITTED} (the reference's aggressive caching): the clean index follows the committed prefix, so
 *       KV of committed tokens is frozen too, taken from the first forward that saw them committed.</li>
 *   <li>{@link Mode#NONE}: every step recomputes the whole canvas (the reference path).</li>
 * </ul>
 * <b>Approximate</b> for a bidirectional model: a frozen key was computed while later positions held other tokens
 * (MASK), and would change on recompute. The error is measured against recompute in this bundle's tests. Under NEXT
 * alignment the clean index stays at or before the row that predicts the first undecoded position, which must be fed.
 * Not thread-safe (one per request); close it to release the state.
 */
final class FreeCache implements AutoCloseable {

    /** Which KV stays frozen. */
    enum Mode {
        NONE, PROMPT, COMMITTED;

        static Mode named(String name) {
            return switch (name) {
                case "none" -> NONE;
                case "prompt" -> PROMPT;
                case "committed" -> COMMITTED;
                default -> throw ArborException.invalid("option 'cache' must be prompt (FreeCache: the prompt's KV "
                        + "frozen), committed (also the committed prefix's) or none (recompute every step), got '"
                        + name + "'");
            };
        }
    }

    private final DiffusionModel model;
    private final Mode mode;
    private final DecodeState state;
    private int cachedForwards;

    FreeCache(DiffusionModel model, Mode mode) {
        this.model = model;
        this.mode = mode;
        if (mode != Mode.NONE && !model.card().supports(Capability.STATE_TRUNCATE)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "option 'cache' " + mode.name()
                    .toLowerCase(java.util.Locale.ROOT) + " keeps a frozen KV prefix, which needs DecodeState.truncate "
                    + "(Capability.STATE_TRUNCATE), but the backend of model '" + model.card().name() + "' does not "
                    + "offer it; set cache=none");
        }
        this.state = mode == Mode.NONE ? null : model.backend().newState(1);
    }

    /** Forwards that read a frozen prefix instead of recomputing it. */
    int cachedForwards() {
        return cachedForwards;
    }

    /**
     * The logit rows predicting {@code positions} (ascending, all at or after {@code committedEnd}, the end of the
     * committed prefix) for the canvas as it is now.
     */
    float[][] logits(Canvas canvas, int[] positions, int committedEnd) {
        if (mode == Mode.NONE) {
            return model.canvasLogits(canvas, positions);
        }
        int firstRow = model.rowFor(positions[0]);
        int lastRow = model.rowFor(positions[positions.length - 1]);
        int clean = Math.min(mode == Mode.PROMPT ? canvas.promptLength() : committedEnd, firstRow);
        int cached = state.length();
        if (cached > clean) {
            // Cannot happen while the clean index only grows; refuse rather than read KV of changed tokens.
            throw new IllegalStateException("frozen KV covers " + cached + " positions, past the clean index " + clean);
        }
        int end = model.blockCausal()
                ? Math.min(canvas.length(), (lastRow / model.blockSize() + 1) * model.blockSize()) : canvas.length();
        int[] queries = DiffusionModel.range(cached, end);
        int[] rows = new int[positions.length];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = model.rowFor(positions[i]) - cached;
        }
        boolean grow = clean > cached;
        ForwardRequest request = ForwardRequest.builder(new int[][] {canvas.tokens(cached, end)})
                .positions(new int[][] {queries}).attention(model.attention(DiffusionModel.range(0, end), queries))
                .state(state).write(grow ? StateWrite.APPEND : StateWrite.NONE).logitRows(new int[][] {rows}).build();
        float[][] logits = model.checked(model.forward(request).logits()[0], positions.length);
        if (cached > 0) {
            cachedForwards++;
        }
        if (grow) {
            // Keep only the newly clean positions: their tokens are final, the rest of the suffix will change.
            state.truncate(clean);
        }
        return logits;
    }

    @Override
    public void close() {
        if (state != null) {
            state.close();
        }
    }
}
