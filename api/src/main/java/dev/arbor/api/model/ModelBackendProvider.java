package dev.arbor.api.model;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A backend implementation (ONNX Runtime, DJL, ...), registered as a service with {@code arbor.part} set to the
 * backend's name. Opens model files into {@link ModelBackend}s.
 */
@ConsumerType
public interface ModelBackendProvider {

    /** Loads the model {@code spec} describes; fails with an {@code ArborException} naming the file and cause. */
    ModelBackend open(ModelSpec spec);
}
