package dev.arbor.api.generation;

import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.pipeline.ModelRef;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Opens further models for one request — a speculative draft, a guide model — through the platform's backends and
 * shared model cache. Models opened here stay open at least until the request ends; the generator never closes them.
 */
@ProviderType
public interface ModelResolver {

    /** The request's target model as the pipeline configures it (backend, format, path, options). */
    ModelRef target();

    /** The model {@code ref} names, opened or shared; fails with an {@code ArborException} naming the file. */
    ModelBackend open(ModelRef ref);

    /** For contexts without a platform (unit tests): knows the target, opens nothing. */
    static ModelResolver none(ModelRef target) {
        return new ModelResolver() {
            @Override
            public ModelRef target() {
                return target;
            }

            @Override
            public ModelBackend open(ModelRef ref) {
                throw new dev.arbor.api.ArborException(dev.arbor.api.ArborException.Kind.UNAVAILABLE,
                        "no model resolver in this context: cannot open " + ref.path());
            }
        };
    }
}
