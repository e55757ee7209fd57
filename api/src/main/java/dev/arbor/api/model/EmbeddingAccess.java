package dev.arbor.api.model;

import org.osgi.annotation.versioning.ProviderType;

/** Optional backend extension: the input-embedding matrix (grouped speculative decoding, soft tokens). */
@ProviderType
public interface EmbeddingAccess {

    /** The embedding of {@code tokenId}; a fresh array the caller may keep. */
    float[] embedding(int tokenId);

    /** Width of an embedding. */
    int embeddingSize();
}
