package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The further models of one request (drafts, guides): names resolve through the operator's model registry, and
 * only files the operator declared (registry entries, the pipeline's own model and the references in its pipeline
 * file) are ever opened. A failure to open one fails this request only — it never marks the pipeline unavailable —
 * and its message names the model and the kind of failure, never bytes or values read from the file; the details
 * go to the server log.
 */
final class RequestModels implements ModelResolver {
    private static final System.Logger LOG = System.getLogger("dev.arbor.runtime");

    private final PipelineDefinition pipeline;
    private final ModelRegistry registry;
    private final Function<ModelRef, ModelBackend> opener;

    /** {@code opener} leases the backend and takes the model from the shared cache for the request's lifetime. */
    RequestModels(PipelineDefinition pipeline, ModelRegistry registry, Function<ModelRef, ModelBackend> opener) {
        this.pipeline = pipeline;
        this.registry = registry;
        this.opener = opener;
    }

    @Override
    public ModelRef target() {
        return pipeline.model();
    }

    @Override
    public ModelRef named(String name) {
        return registry.resolve(name);
    }

    @Override
    public ModelBackend open(ModelRef ref) {
        String label = label(ref);
        if (label == null) {
            throw ArborException.invalid("pipeline '" + pipeline.name() + "': a request's further models must be "
                    + "models of the installation's registry, named like \"draft\": \"NAME\" (declared models: "
                    + String.join(", ", registry.names().keySet()) + ")");
        }
        try {
            return opener.apply(ref);
        } catch (ArborException e) {
            if (e.kind() == ArborException.Kind.UNAVAILABLE && e.getMessage().contains("model cache is full")) {
                throw e;
            }
            LOG.log(System.Logger.Level.WARNING, "pipeline '" + pipeline.name() + "': " + label + " (" + ref.path()
                    + ") could not be opened: " + e.getMessage());
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "pipeline '" + pipeline.name() + "': "
                    + label + " is unavailable: " + failure(e.kind(), ref.format()) + " (the server log has the "
                    + "details)", e);
        }
    }

    /** How errors name {@code ref}: its registry name, or "the pipeline's model"; null when nobody declared it. */
    private String label(ModelRef ref) {
        for (Map.Entry<String, ModelRef> e : registry.names().entrySet()) {
            if (sameFile(e.getValue(), ref)) {
                return "model '" + e.getKey() + "'";
            }
        }
        if (sameFile(pipeline.model(), ref)) {
            return "the pipeline's own model";
        }
        return operatorPaths(pipeline).contains(ref.path()) ? "a model of the pipeline file" : null;
    }

    private static boolean sameFile(ModelRef a, ModelRef b) {
        return a.path().equals(b.path()) && a.backend().equals(b.backend()) && a.format().equals(b.format());
    }

    /** The paths the operator wrote in the pipeline's generator options and defaults (never a request's). */
    static Set<String> operatorPaths(PipelineDefinition d) {
        Set<String> out = new HashSet<>();
        collect(d.generator().options().asMap(), out);
        collect(d.defaults().asMap(), out);
        return out;
    }

    private static void collect(Object value, Set<String> out) {
        if (value instanceof Map<?, ?> m) {
            m.forEach((k, v) -> {
                if ("path".equals(k) && v instanceof String s) {
                    out.add(s);
                } else {
                    collect(v, out);
                }
            });
        } else if (value instanceof List<?> l) {
            l.forEach(v -> collect(v, out));
        }
    }

    /** The kind of an open failure in words, without anything read from the file. */
    static String failure(ArborException.Kind kind, String format) {
        return switch (kind) {
            case NOT_FOUND -> "its file is missing or unreadable";
            case BAD_MODEL -> "its file is not a valid " + format + " model";
            case INVALID_INPUT -> "its registry entry or options are invalid";
            case UNAVAILABLE -> "its backend is not available";
            default -> "it failed to load";
        };
    }
}
