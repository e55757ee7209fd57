/**
 * The shared masked-diffusion decoding core (METHODS.md §2.3): a {@link dev.arbor.diffusion.Canvas} of MASK tokens
 * after the prompt; a {@link dev.arbor.diffusion.DiffusionModel} that checks the model card (MASK id, alignment,
 * native attention, block size), builds the matching attention and counts forward passes; a
 * {@link dev.arbor.diffusion.TokenProposer} that draws a token per masked position with the pipeline's sampler and
 * scores it with a {@link dev.arbor.diffusion.ConfidenceMetric}; the extension points
 * {@link dev.arbor.diffusion.UnmaskSchedule} (how many per step) and {@link dev.arbor.diffusion.RemaskingPolicy}
 * (which ones); the step loop {@link dev.arbor.diffusion.MaskedDiffusionLoop}; and
 * {@link dev.arbor.diffusion.CanvasOutput}, which streams canvases, releases final tokens in order and builds the
 * result with forward passes per token. Strategy bundles (Fast-dLLM, dInfer, EOSER/ASS, RCR, entropy order, guided
 * diffusion) build on these.
 *
 * <p><b>Adding a strategy.</b> One that changes only how many, how confident or which positions are decoded per step
 * builds a {@code MaskedDiffusionLoop.Settings} with its own schedule and (per-request) policy and runs
 * {@code new MaskedDiffusionLoop(model, proposer, output, context.cancellation()).run(canvas, settings)} in its
 * {@code Generator}, exactly as {@code MaskedDiffusionGenerator} does; a policy can wrap another (e.g. rescale EOS
 * confidences, then delegate to {@code LOW_CONFIDENCE}). One with its own forwards (caches, guides) keeps the same
 * skeleton: {@code DiffusionModel.of} → {@code budget} → {@code Canvas} → {@code TokenProposer} →
 * {@code CanvasOutput}; per step: forward through {@code DiffusionModel.forward} (so forwards are counted), propose,
 * choose, {@code canvas.commit} + {@code proposer.committed} + {@code output.record}, then {@code output.step()};
 * per finished block {@code output.release(end)}; at the end {@code output.finish}. Tests: the testkit's
 * {@code EnumeratedJointMaskedBackend} (exact conditionals, both alignments, block-causal) and
 * {@code CardOverrideBackend} (a real transformer shown as a diffusion LM, for cache-error measurements).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.2.0")
package dev.arbor.diffusion;
