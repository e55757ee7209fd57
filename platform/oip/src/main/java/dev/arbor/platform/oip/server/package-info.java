/**
 * What the Open Inference Protocol's front ends of this installation share (the REST routes of the HTTP server and
 * the gRPC server of this bundle): the catalog of served models ({@link dev.arbor.platform.oip.server.ServedModels}:
 * registered {@link dev.arbor.platform.oip.InferenceModel}s and every pipeline as a
 * {@link dev.arbor.platform.oip.server.PipelineModel}), the checks every request passes before a model sees it
 * ({@link dev.arbor.platform.oip.server.TensorChecks}), and the server's readiness through a drain
 * ({@link dev.arbor.platform.oip.server.ServingState}). Not for plugins: they register an {@code InferenceModel}.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.platform.oip.server;
