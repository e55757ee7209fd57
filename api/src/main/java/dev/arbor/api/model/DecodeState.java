package dev.arbor.api.model;

import org.osgi.annotation.versioning.ProviderType;

/**
 * The per-request reusable state of a backend: a KV cache, or a recurrent state. Slots are positions in the state
 * (one per token written), not token positions. Not thread-safe: one request owns it. Operations a backend does not
 * support (see {@link ModelCard#capabilities()}) throw an {@code ArborException} naming the operation.
 */
@ProviderType
public interface DecodeState extends AutoCloseable {

    /** Number of rows. */
    int batchSize();

    /** Number of slots held (equal for every row; padding slots count). */
    int length();

    /** Keeps the first {@code newLength} slots of every row (speculative rollback, rewind). */
    void truncate(int newLength);

    /** Keeps only {@code keepSlots} (ascending), renumbered 0..n-1, in every row (accepted tree path). */
    default void compact(int[] keepSlots) {
        throw new dev.arbor.api.ArborException(dev.arbor.api.ArborException.Kind.INCOMPATIBLE,
                "this backend's state does not support compact");
    }

    /** An independent copy that can diverge (CFG twin, branches). */
    default DecodeState fork() {
        throw new dev.arbor.api.ArborException(dev.arbor.api.ArborException.Kind.INCOMPATIBLE,
                "this backend's state does not support fork");
    }

    /**
     * Rebuilds the batch from existing rows: new row i is a copy of old row {@code sourceRows[i]} (repeats allowed).
     * Beam search reorders beams with it; dropping finished rows is the special case of a subset.
     */
    default void selectRows(int[] sourceRows) {
        throw new dev.arbor.api.ArborException(dev.arbor.api.ArborException.Kind.INCOMPATIBLE,
                "this backend's state does not support selecting rows");
    }

    /** Removes finished rows ({@code rows}, any order); the remaining rows keep their order. */
    default void dropRows(int[] rows) {
        java.util.Set<Integer> dropped = new java.util.HashSet<>();
        for (int r : rows) {
            dropped.add(r);
        }
        selectRows(java.util.stream.IntStream.range(0, batchSize()).filter(r -> !dropped.contains(r)).toArray());
    }

    /** Frees the state's native memory. Idempotent. */
    @Override
    void close();
}
