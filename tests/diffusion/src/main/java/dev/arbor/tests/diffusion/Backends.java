package dev.arbor.tests.diffusion;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.backend.djl.DjlBackendProvider;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The two model backends on the flat class path, as SCR would create their providers: {@code onnxruntime} (the
 * llama2.c checkpoint converted to ONNX once, into {@code cacheDir}) and {@code djl} (the checkpoint read directly
 * into DJL's PyTorch engine). Both read the checkpoint's sidecar card. Models are opened once per backend and path
 * and closed together; {@link #resolver} gives strategies that open further models (guided diffusion's guide) the
 * same backend as their target, as a pipeline would.
 */
public final class Backends implements AutoCloseable {
    public static final String ONNXRUNTIME = "onnxruntime";
    public static final String DJL = "djl";
    public static final List<String> NAMES = List.of(ONNXRUNTIME, DJL);

    private final Path cacheDir;
    private final Map<String, ModelBackend> open = new LinkedHashMap<>();

    /** {@code cacheDir}: where ONNX Runtime keeps converted checkpoints. */
    public Backends(Path cacheDir) {
        this.cacheDir = cacheDir;
    }

    /** The llama2.c checkpoint {@code checkpoint} on {@code backend} (opened once). */
    public synchronized ModelBackend open(String backend, Path checkpoint) {
        return open.computeIfAbsent(backend + ":" + checkpoint.toAbsolutePath(), k -> provider(backend)
                .open(new ModelSpec(checkpoint, "llama2c", options(backend))));
    }

    /** A resolver whose target is {@code checkpoint} on {@code backend}, opening what it is asked through here. */
    public ModelResolver resolver(String backend, Path checkpoint) {
        ModelRef target = ref(backend, checkpoint);
        return new ModelResolver() {
            @Override
            public ModelRef target() {
                return target;
            }

            @Override
            public ModelBackend open(ModelRef ref) {
                if (!ref.format().equals("llama2c")) {
                    throw ArborException.invalid("only llama2c models are opened here, got format " + ref.format());
                }
                return Backends.this.open(ref.backend(), Path.of(ref.path()));
            }
        };
    }

    /** The pipeline-style reference of {@code checkpoint} on {@code backend}. */
    public ModelRef ref(String backend, Path checkpoint) {
        return new ModelRef(backend, "llama2c", checkpoint.toAbsolutePath().toString(), options(backend));
    }

    private Options options(String backend) {
        return backend.equals(ONNXRUNTIME) ? Options.of(Map.of("cache_dir", cacheDir.toString())) : Options.empty();
    }

    private static ModelBackendProvider provider(String backend) {
        return switch (backend) {
            case ONNXRUNTIME -> new OnnxRuntimeBackendProvider();
            case DJL -> new DjlBackendProvider();
            default -> throw ArborException.invalid("unknown backend '" + backend + "'; expected one of " + NAMES);
        };
    }

    @Override
    public synchronized void close() {
        open.values().forEach(ModelBackend::close);
        open.clear();
    }
}
