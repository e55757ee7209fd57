package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Refuses a request whose options name a file or a directory at any depth (a model reference's {@code path}, a
 * {@code cache_dir}, ...): a request chooses models by registry name, and files and directories are the
 * operator's. Checked before anything is resolved, so no file is touched and the answer is the same whether or not
 * the file exists.
 */
final class RequestPathGuard {
    private RequestPathGuard() {
    }

    /** Throws INVALID_INPUT naming the first option of {@code request} that names a file or directory. */
    static void check(CompletionRequest request, Supplier<List<String>> declaredModels) {
        check("", request.options(), declaredModels);
        if (request.generator() != null) {
            check("", request.generator().options(), declaredModels);
        }
        if (request.processors() != null) {
            for (PartRef p : request.processors()) {
                check(p.name() + ".", p.options(), declaredModels);
            }
        }
    }

    private static void check(String prefix, Options options, Supplier<List<String>> declaredModels) {
        for (Map.Entry<String, Object> e : options.asMap().entrySet()) {
            walk(prefix + e.getKey(), e.getKey(), e.getValue(), declaredModels);
        }
    }

    private static void walk(String option, String key, Object value, Supplier<List<String>> declaredModels) {
        if (namesFile(key)) {
            String top = option.contains(".") ? option.substring(0, option.indexOf('.')) : option;
            boolean isPath = key.toLowerCase(Locale.ROOT).endsWith("path") && !top.equals(option);
            throw ArborException.invalid(isPath
                    ? "option '" + top + "' gives a file path ('" + RequestPathGuard.shown(option) + "'); a request "
                    + "names models only by their name in the installation's model registry, e.g. \"" + top
                    + "\": \"NAME\" (declared models: " + declared(declaredModels) + ")"
                    : "option '" + shown(option) + "' names a file or directory, which only the operator sets (in "
                    + "the model registry, etc/models/NAME.json, or the pipeline file); remove it from the request");
        }
        if (value instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) {
                String k = String.valueOf(e.getKey());
                walk(option + "." + k, k, e.getValue(), declaredModels);
            }
        } else if (value instanceof List<?> list) {
            for (Object v : list) {
                walk(option, "", v, declaredModels);
            }
        }
    }

    /** Keys that name a file or directory: path, file, dir, directory, and any key ending in one of them. */
    static boolean namesFile(String key) {
        String k = key.toLowerCase(Locale.ROOT).replace('-', '_');
        for (String word : List.of("path", "file", "dir", "directory", "folder")) {
            if (k.equals(word) || k.endsWith("_" + word)) {
                return true;
            }
        }
        return false;
    }

    private static String declared(Supplier<List<String>> declaredModels) {
        List<String> names = declaredModels.get();
        return names.isEmpty() ? "none" : String.join(", ", names);
    }

    private static String shown(String option) {
        return ModelRegistry.shown(option);
    }
}
