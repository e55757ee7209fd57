/**
 * Shared sampling numerics for method bundles (speculative decoding, diffusion decoders, guidance): softmax and
 * log-softmax in double precision, argmax with a fixed tie rule, k-th largest, stable argsorts and inverse-CDF
 * sampling. The processors and selectors themselves are services (see {@code arbor.part}), not exported types.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.sampling;
