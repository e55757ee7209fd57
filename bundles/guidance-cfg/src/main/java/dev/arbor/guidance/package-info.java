/**
 * Classifier-free guidance as a reusable step: the three conventions of the seed papers ({@link
 * dev.arbor.guidance.CfgConvention}), scale ramps over steps or scales ({@link dev.arbor.guidance.CfgRamp}) and the
 * combination of a conditional and an unconditional logit row ({@link dev.arbor.guidance.Guidance}). Imported by the
 * image generators and by speculative strategies that run guided rows.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package dev.arbor.guidance;
