/**
 * The Open Inference Protocol (KServe v2 "predict protocol, version 2") as Arbor serves it: an {@link
 * dev.arbor.platform.oip.InferenceModel} registered as an OSGi service is served under its name over REST
 * ({@code /v2/models/{name}/...}) and gRPC ({@code inference.GRPCInferenceService}); the tensors it takes and gives
 * are {@link dev.arbor.platform.oip.Tensor}s.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.platform.oip;
