/**
 * Logits processing and token selection: a chain of {@link dev.arbor.api.sampling.LogitsProcessor}s followed by a
 * {@link dev.arbor.api.sampling.TokenSelector} that returns the token together with the processed distribution (and, since 1.2, the
 * {@link dev.arbor.api.sampling.TopTokens} alternatives a request asks for);
 * {@link dev.arbor.api.sampling.SamplingOptions} decides what request options such as {@code temperature} mean.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package dev.arbor.api.sampling;
