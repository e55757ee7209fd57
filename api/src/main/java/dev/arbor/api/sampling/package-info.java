/**
 * Logits processing and token selection: a chain of {@link dev.arbor.api.sampling.LogitsProcessor}s followed by a
 * {@link dev.arbor.api.sampling.TokenSelector} that returns the token together with the processed distribution.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.api.sampling;
