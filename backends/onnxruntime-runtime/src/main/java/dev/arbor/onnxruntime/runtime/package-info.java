/**
 * The process-wide ONNX Runtime environment, created with telemetry off and the native log level the user chose:
 * model bundles obtain it from {@link dev.arbor.onnxruntime.runtime.OrtRuntime#environment()} rather than creating
 * it themselves.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.onnxruntime.runtime;
