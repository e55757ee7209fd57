/**
 * Decoding strategies: a {@link dev.arbor.api.generation.Generator} owns the backend state of one request, builds
 * forward requests and streams tokens to a {@link dev.arbor.api.generation.TokenSink}.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.3.0")
package dev.arbor.api.generation;
