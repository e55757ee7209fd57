/**
 * Pipelines: named compositions of tokenizer, model, strategy, processors and post-processors, declared in
 * configuration; and the {@link dev.arbor.api.pipeline.PipelineService} the platform offers to run them.
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.4.0")
package dev.arbor.api.pipeline;
