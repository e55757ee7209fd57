package dev.arbor.benchmarks;

import dev.arbor.api.Options;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Opens llama2.c checkpoints on ONNX Runtime for benchmarks that drive generators directly (no framework): a
 * {@link ModelResolver} whose target is {@code checkpoint} and which opens each further reference (layer-skip
 * drafts) once; {@link #close} closes them all.
 */
final class OnnxModels implements ModelResolver, AutoCloseable {
    private final ModelRef targetRef;
    private final OnnxRuntimeBackendProvider provider = new OnnxRuntimeBackendProvider();
    private final Map<String, ModelBackend> open = new ConcurrentHashMap<>();

    /** A resolver for {@code checkpoint}, converting into {@code cache}. */
    OnnxModels(Path checkpoint, Path cache) {
        this.targetRef = new ModelRef("onnxruntime", "llama2c", checkpoint.toString(),
                Options.of(Map.of("cache_dir", cache.toString())));
    }

    @Override
    public ModelRef target() {
        return targetRef;
    }

    @Override
    public ModelBackend open(ModelRef ref) {
        return open.computeIfAbsent(ref.toString(), k -> provider.open(new ModelSpec(Path.of(ref.path()),
                ref.format(), ref.options())));
    }

    @Override
    public void close() {
        open.values().forEach(ModelBackend::close);
    }
}
