package dev.arbor.api.model;

import java.util.Optional;
import org.osgi.annotation.versioning.ProviderType;

/**
 * One loaded network (causal LM, masked-diffusion LM, ...). Thread-safe: several requests may call
 * {@link #forward} at once, each with its own {@link DecodeState}.
 */
@ProviderType
public interface ModelBackend extends AutoCloseable {

    /** Static facts and capability flags; never changes for the life of the backend. */
    ModelCard card();

    /** A new, empty state (KV cache or recurrent state) for {@code batchSize} rows; the caller closes it. */
    DecodeState newState(int batchSize);

    /** One batched pass, the only compute primitive; rejects specs the card does not list as supported. */
    ForwardResult forward(ForwardRequest request);

    /** An optional extension such as {@link EmbeddingAccess}, when this backend offers it. */
    default <T> Optional<T> extension(Class<T> type) {
        return type.isInstance(this) ? Optional.of(type.cast(this)) : Optional.empty();
    }

    /** Frees native memory; calls after close fail with a clear error. */
    @Override
    void close();
}
