/**
 * The OpenAI-compatible HTTP server: {@link dev.arbor.platform.http.HttpEndpoint} tells where it listens.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.platform.http;
