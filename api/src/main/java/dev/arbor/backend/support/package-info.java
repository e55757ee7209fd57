/**
 * Shared machinery for model backends, never seen by decoding plugins: the bookkeeping of a decode state's rows and
 * slots, and the step scheduler that coalesces the forwards of concurrent requests into batched runs (continuous
 * batching). A backend author uses these so that every backend behaves alike where the contract of
 * {@link dev.arbor.api.model.DecodeState} leaves no choice.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package dev.arbor.backend.support;
