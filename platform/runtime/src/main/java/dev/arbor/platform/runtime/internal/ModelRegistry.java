package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.pipeline.ModelRef;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * The models an operator declared for requests to choose by name: one file {@code <arbor.etc>/models/NAME.json}
 * per model, {@code {"backend", "format", "path", "options", "description"}} with {@code ${...}} variables as in
 * pipeline files. Requests never name files: a name is looked up among the declared ones and never used to build a
 * path, so an unknown name says nothing about the file system. Files are re-read when the folder changes.
 */
public final class ModelRegistry {
    private static final System.Logger LOG = System.getLogger("dev.arbor.runtime");
    /** What a model name may look like (a file name without its extension). */
    static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private final Path folder;
    private final UnaryOperator<String> variables;
    private Map<String, ModelRef> models = Map.of();
    private Map<String, String> broken = Map.of();
    private String fingerprint = "";

    /** A registry over {@code folder} (null: no registry, every name is unknown). */
    public ModelRegistry(Path folder, UnaryOperator<String> variables) {
        this.folder = folder;
        this.variables = variables;
    }

    /** The model declared as {@code name}; INVALID_INPUT naming the declared models when there is none. */
    public ModelRef resolve(String name) {
        Optional<ModelRef> ref = find(name);
        if (ref.isPresent()) {
            return ref.get();
        }
        String reason = name != null && broken().containsKey(name)
                ? "model '" + name + "' is declared but its registry entry is broken (the operator's log says why)"
                : "no model named '" + shown(name) + "' is declared in this installation's model registry";
        throw ArborException.invalid(reason + "; declared models: " + (names().isEmpty() ? "none (an operator "
                + "declares them as etc/models/NAME.json)" : String.join(", ", names().keySet())));
    }

    /** The declared model called {@code name}, if any. */
    public synchronized Optional<ModelRef> find(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            return Optional.empty();
        }
        refresh();
        return Optional.ofNullable(models.get(name));
    }

    /** Every declared model by name, sorted. */
    public synchronized Map<String, ModelRef> names() {
        refresh();
        return models;
    }

    private synchronized Map<String, String> broken() {
        refresh();
        return broken;
    }

    /** A name as it may appear in an error: clipped and reduced to safe characters. */
    static String shown(String name) {
        if (name == null) {
            return "";
        }
        String clipped = name.length() > 64 ? name.substring(0, 64) + "..." : name;
        return clipped.replaceAll("[^A-Za-z0-9._ /-]", "?");
    }

    private void refresh() {
        if (folder == null || !Files.isDirectory(folder)) {
            models = Map.of();
            return;
        }
        StringBuilder print = new StringBuilder();
        Map<Path, Long> files = new TreeMap<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(folder, "*.json")) {
            for (Path file : dir) {
                long modified = Files.getLastModifiedTime(file).toMillis();
                files.put(file, modified);
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot list the model registry " + folder + ": " + e);
            return;
        }
        files.forEach((f, m) -> print.append(f).append('@').append(m).append(';'));
        if (print.toString().equals(fingerprint)) {
            return;
        }
        Map<String, ModelRef> loaded = new TreeMap<>();
        Map<String, String> failed = new TreeMap<>();
        for (Path file : files.keySet()) {
            String fileName = file.getFileName().toString();
            String name = fileName.substring(0, fileName.length() - ".json".length());
            if (!NAME.matcher(name).matches()) {
                LOG.log(System.Logger.Level.WARNING, "model registry file " + file + " is ignored: a model name is "
                        + "letters, digits, '.', '_' or '-' (at most 64)");
                continue;
            }
            try {
                loaded.put(name, PipelineJson.modelRef(Files.readString(file, StandardCharsets.UTF_8),
                        "model registry file " + file, variables));
            } catch (IOException | ArborException e) {
                failed.put(name, e.getMessage());
                LOG.log(System.Logger.Level.WARNING, "model registry file " + file + " is broken: " + e.getMessage());
            }
        }
        models = java.util.Collections.unmodifiableMap(loaded);
        broken = java.util.Collections.unmodifiableMap(failed);
        fingerprint = print.toString();
    }
}
