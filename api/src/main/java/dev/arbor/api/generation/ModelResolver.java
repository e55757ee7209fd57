package dev.arbor.api.generation;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.pipeline.ModelRef;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Opens further models for one request — a speculative draft, a guide model — through the platform's backends and
 * shared model cache. Models opened here stay open at least until the request ends; the generator never closes them.
 *
 * <p>A request names such models only by their <b>registry name</b>: the operator declares models (file, backend,
 * format, options) in the installation's model registry, and requests choose among them. Full references with a
 * file path come only from the operator's pipeline files; the platform refuses a request that carries one.
 */
@ProviderType
public interface ModelResolver {

    /** The request's target model as the pipeline configures it (backend, format, path, options). */
    ModelRef target();

    /** The model {@code ref} names, opened or shared; failures name the model, never the bytes of its file. */
    ModelBackend open(ModelRef ref);

    /**
     * The operator's model registered under {@code name}; fails with {@code INVALID_INPUT} naming the registered
     * models (and nothing about files) when no model has that name.
     */
    default ModelRef named(String name) {
        throw ArborException.invalid("no model registry in this context: cannot resolve model name '" + name + "'");
    }

    /**
     * The model reference that option {@code option} holds: a registry name ({@code "draft": "NAME"}), an object
     * naming one ({@code {"model": "NAME"}}), or — from the operator's pipeline file only — a full reference
     * {@code {"backend", "format", "path", "options"}} whose backend and format default to the target's.
     */
    default ModelRef reference(String option, Object value) {
        if (value instanceof String name) {
            return namedChecked(option, name);
        }
        if (!(value instanceof Map<?, ?> raw)) {
            throw ArborException.invalid("option '" + option + "' must name a model of the registry, e.g. \""
                    + option + "\": \"NAME\", got " + (value == null ? "nothing" : "a " + kind(value)));
        }
        Map<String, Object> spec = new LinkedHashMap<>();
        raw.forEach((k, v) -> spec.put(String.valueOf(k), v));
        if (spec.containsKey("model")) {
            if (spec.size() != 1) {
                Set<String> extra = new TreeSet<>(spec.keySet());
                extra.remove("model");
                throw ArborException.invalid("option '" + option + "' names registry model '" + spec.get("model")
                        + "' and also gives " + extra + "; a registry model comes with the operator's settings, "
                        + "give only {\"model\": \"NAME\"}");
            }
            Object name = spec.get("model");
            if (!(name instanceof String s)) {
                throw ArborException.invalid("option '" + option + "' key 'model' must be the name of a registry "
                        + "model, got a " + kind(name));
            }
            return namedChecked(option, s);
        }
        Set<String> unknown = new TreeSet<>(spec.keySet());
        unknown.removeAll(Set.of("backend", "format", "path", "options"));
        if (!unknown.isEmpty()) {
            throw ArborException.invalid("option '" + option + "' has unknown keys " + unknown + "; name a model of "
                    + "the registry: \"" + option + "\": \"NAME\" or {\"model\": \"NAME\"}");
        }
        if (!(spec.get("path") instanceof String path) || path.isBlank()) {
            throw ArborException.invalid("option '" + option + "' must name a model of the registry: \"" + option
                    + "\": \"NAME\" or {\"model\": \"NAME\"}");
        }
        ModelRef target = target();
        String backend = text(option, spec, "backend", target == null ? null : target.backend());
        String format = text(option, spec, "format", target == null ? null : target.format());
        if (backend == null || format == null) {
            throw ArborException.invalid("option '" + option + "' needs 'backend' and 'format' (this context has no "
                    + "target model reference to take them from)");
        }
        Object nested = spec.get("options");
        if (nested != null && !(nested instanceof Map<?, ?>)) {
            throw ArborException.invalid("option '" + option + "' key 'options' must be an object of backend "
                    + "options, got a " + kind(nested));
        }
        Map<String, Object> backendOptions = new LinkedHashMap<>();
        if (nested instanceof Map<?, ?> m) {
            m.forEach((k, v) -> backendOptions.put(String.valueOf(k), v));
        }
        return new ModelRef(backend, format, path, Options.of(backendOptions));
    }

    private ModelRef namedChecked(String option, String name) {
        if (name.isBlank()) {
            throw ArborException.invalid("option '" + option + "' must name a model of the registry, got an empty "
                    + "name");
        }
        return named(name);
    }

    private static String text(String option, Map<String, Object> spec, String key, String fallback) {
        Object v = spec.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof String s) || s.isBlank()) {
            throw ArborException.invalid("option '" + option + "' key '" + key + "' must be a non-empty string");
        }
        return s;
    }

    private static String kind(Object value) {
        return value instanceof Number ? "number" : value instanceof Boolean ? "boolean"
                : value instanceof java.util.List<?> ? "list" : value instanceof Map<?, ?> ? "object" : "value";
    }

    /** For contexts without a platform (unit tests): knows the target, opens nothing. */
    static ModelResolver none(ModelRef target) {
        return new ModelResolver() {
            @Override
            public ModelRef target() {
                return target;
            }

            @Override
            public ModelBackend open(ModelRef ref) {
                throw new ArborException(ArborException.Kind.UNAVAILABLE,
                        "no model resolver in this context: cannot open a further model");
            }
        };
    }
}
