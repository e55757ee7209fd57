package dev.arbor.api.model;

import dev.arbor.api.Options;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where a model is and how to read it.
 *
 * @param path    the model file (or directory)
 * @param format  the file format: {@code onnx}, {@code llama2c}, ...
 * @param options backend knobs (device, layers to keep, cache directory, ...)
 */
public record ModelSpec(Path path, String format, Options options) {
    public ModelSpec {
        Objects.requireNonNull(path, "model path");
        Objects.requireNonNull(format, "model format");
        options = options == null ? Options.empty() : options;
    }
}
