package dev.arbor.api.pipeline;

import dev.arbor.api.Options;
import java.util.Objects;

/**
 * The model of a pipeline: which backend runs it, the file, its format and backend options.
 *
 * @param backend the {@code arbor.part} name of a {@code ModelBackendProvider} ({@code onnxruntime}, {@code djl})
 * @param format  the model file format ({@code onnx}, {@code llama2c})
 * @param path    the file, after variable substitution
 */
public record ModelRef(String backend, String format, String path, Options options) {
    public ModelRef {
        Objects.requireNonNull(backend, "model backend");
        Objects.requireNonNull(format, "model format");
        Objects.requireNonNull(path, "model path");
        options = options == null ? Options.empty() : options;
    }
}
