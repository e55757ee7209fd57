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

    /** Removes finished rows; the remaining rows keep their order. */
    default void dropRows(int[] rows) {
        throw new dev.arbor.api.ArborException(dev.arbor.api.ArborException.Kind.INCOMPATIBLE,
                "this backend's state does not support dropping rows");
    }

    /** Frees the state's native memory. Idempotent. */
    @Override
    void close();
}
