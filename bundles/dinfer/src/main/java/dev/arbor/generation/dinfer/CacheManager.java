package dev.arbor.generation.dinfer;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.Capability;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.DiffusionModel;

/**
 * dInfer's cache manager ({@code DiffusionKVCacheManager}): produces the logits that predict the current block's
 * masked positions, either by a full forward of the canvas that also refreshes the KV cache, or by a cheaper forward
 * that reuses cached KV. One instance per request; closes its state.
 */
interface CacheManager extends AutoCloseable {

    /**
     * Logits predicting each of {@code positions} (masked positions of the block {@code [start, end)}).
     *
     * @param refresh true for a full forward that also rebuilds the cache (a new block, or the update interval)
     */
    float[][] logits(Canvas canvas, int start, int end, int[] positions, boolean refresh);

    /** Frees the cache's state; the default holds none. */
    @Override
    default void close() {
    }

    /**
     * The policy named {@code none}, {@code prefix}, {@code dual} or {@code vicinity} (option {@code cache});
     * {@code prefixLook}/{@code afterLook} widen the vicinity window.
     */
    static CacheManager named(String name, DiffusionModel model, int prefixLook, int afterLook) {
        return switch (name) {
            case "none", "" -> (canvas, start, end, positions, refresh) -> model.canvasLogits(canvas, positions);
            case "prefix" -> {
                require(model, Capability.STATE_TRUNCATE, name);
                yield new KvCache(model, false, 0, 0);
            }
            case "dual" -> {
                require(model, Capability.SEGMENT_MASK, name);
                yield new KvCache(model, true, 0, 0);
            }
            case "vicinity" -> {
                require(model, Capability.SEGMENT_MASK, name);
                yield new KvCache(model, true, prefixLook, afterLook);
            }
            default -> throw ArborException.invalid("option 'cache' must be none, prefix, dual or vicinity, got '"
                    + name + "'");
        };
    }

    private static void require(DiffusionModel model, Capability capability, String cache) {
        if (!model.card().supports(capability)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "generator 'dinfer' with cache=" + cache
                    + " needs " + capability + ", which the backend of model '" + model.card().name()
                    + "' does not offer; use cache=none");
        }
    }
}
