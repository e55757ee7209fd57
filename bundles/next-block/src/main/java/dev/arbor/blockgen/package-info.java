/**
 * Group-parallel decoding of class-conditional image priors with learned query tokens, shared by the generators of
 * such priors (next-block: Next Block Prediction; DetailFlow's next-detail): {@link dev.arbor.blockgen.GroupLayout}
 * (the sequence: a causal start of {@code c} tokens, then groups of {@code G} predicted one group per forward, query
 * ids, segments, targets, decode steps and the prior checks), {@link dev.arbor.blockgen.GroupParallelDecoder} (the
 * KV-appending loop with classifier-free guidance rows and a per-row sampling callback) and
 * {@link dev.arbor.blockgen.StepGuidance} (guidance by step). The forge's {@code image-group-parallel} objective
 * trains the priors this package decodes.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.0.0")
package dev.arbor.blockgen;
