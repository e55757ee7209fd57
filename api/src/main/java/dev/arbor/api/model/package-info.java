/**
 * The model-backend contract: one batched {@link dev.arbor.api.model.ModelBackend#forward forward} over new query
 * positions with an {@link dev.arbor.api.model.AttentionSpec}, against a {@link dev.arbor.api.model.DecodeState}
 * that can be appended to, truncated, compacted and forked. Every decoding method reduces to this primitive.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.3.0")
package dev.arbor.api.model;
