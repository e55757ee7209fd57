/**
 * The long-lived DJL runtime bundle ({@code dev.arbor.djl.runtime}): DJL with the PyTorch engine and natives,
 * initialised offline with explicit engine registration and the bundle loader as TCCL (not SPI Fly; see
 * {@link dev.arbor.djl.runtime.DjlRuntime} and OSGI-NOTES 4.2-4.7). Exports {@code ai.djl.*} at the exact DJL version.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.djl.runtime;
