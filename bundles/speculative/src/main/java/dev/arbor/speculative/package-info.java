/**
 * The speculative verification loop of Leviathan et al. 2023 ("Fast Inference from Transformers via Speculative
 * Decoding", arXiv:2211.17192) and Chen et al. 2023 ("Accelerating Large Language Model Decoding with Speculative
 * Sampling", arXiv:2302.01318), behind a small {@link dev.arbor.speculative.Drafter} interface: a drafter proposes
 * tokens (with the distributions they were drawn from, or none for deterministic drafts) and
 * {@link dev.arbor.speculative.SpeculativeDecoding} verifies them against the target in one forward per step, so
 * that the emitted sequence has exactly the target's distribution (METHODS.md section 2.2).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package dev.arbor.speculative;
