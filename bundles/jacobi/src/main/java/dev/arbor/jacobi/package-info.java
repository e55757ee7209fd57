/**
 * The Speculative Jacobi Decoding loop ({@link dev.arbor.jacobi.JacobiDecoder}) with a pluggable
 * {@link dev.arbor.jacobi.AcceptanceRule}: {@link dev.arbor.jacobi.TokenRatioRule} is SJD (Teng et al. 2024), the
 * grouped ratio of GSD (So et al. 2025) lives in bundle {@code dev.arbor.generation.grouped}. Specification:
 * {@code METHODS.md} section 3.1 and the accept/reject primitive of section 2.2.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package dev.arbor.jacobi;
