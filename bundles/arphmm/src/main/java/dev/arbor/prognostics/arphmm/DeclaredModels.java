package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The prognostic models an operator declared: one file {@code <arbor.etc>/prognostics/NAME.json} per model (see
 * {@link ModelJson}). A request's model name is looked up among the declared names and never used to build a path,
 * so an unknown name reveals nothing about the file system. Files are re-read when they change; a broken file is
 * logged and answered as broken, naming the fix in the operator's log.
 */
final class DeclaredModels {
    private static final System.Logger LOG = System.getLogger("dev.arbor.prognostics");
    /** What a model name may look like (a file name without its extension). */
    static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    private final Path folder;
    private Map<String, ModelJson.Document> models = Map.of();
    private Map<String, String> broken = Map.of();
    private String fingerprint = "";

    DeclaredModels(Path folder) {
        this.folder = folder;
    }

    Path folder() {
        return folder;
    }

    /** The declared model called {@code name}; NOT_FOUND naming the declared models otherwise. */
    synchronized ModelJson.Document resolve(String name) {
        refresh();
        ModelJson.Document doc = name == null || !NAME.matcher(name).matches() ? null : models.get(name);
        if (doc != null) {
            return doc;
        }
        String reason = name != null && broken.containsKey(name)
                ? "prognostic model '" + name + "' is declared but its file is broken (the operator's log says why)"
                : "no prognostic model named '" + shown(name) + "' is declared";
        throw new ArborException(ArborException.Kind.NOT_FOUND, reason + "; declared models: "
                + (models.isEmpty() ? "none (an operator declares them as etc/prognostics/NAME.json, e.g. with"
                + " 'arbor prognostics fit')" : String.join(", ", models.keySet())));
    }

    synchronized Optional<ModelJson.Document> find(String name) {
        refresh();
        return Optional.ofNullable(name == null ? null : models.get(name));
    }

    synchronized java.util.List<String> names() {
        refresh();
        return java.util.List.copyOf(models.keySet());
    }

    static String shown(String name) {
        if (name == null) {
            return "";
        }
        String clipped = name.length() > 64 ? name.substring(0, 64) + "..." : name;
        return clipped.replaceAll("[^A-Za-z0-9._ -]", "?");
    }

    private void refresh() {
        if (folder == null || !Files.isDirectory(folder)) {
            models = Map.of();
            broken = Map.of();
            fingerprint = "";
            return;
        }
        Map<Path, Long> files = new TreeMap<>();
        try (DirectoryStream<Path> dir = Files.newDirectoryStream(folder, "*.json")) {
            for (Path file : dir) {
                files.put(file, Files.getLastModifiedTime(file).toMillis() ^ Files.size(file) << 20);
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "cannot list the prognostic models in " + folder + ": " + e);
            return;
        }
        StringBuilder print = new StringBuilder();
        files.forEach((f, m) -> print.append(f).append('@').append(m).append(';'));
        if (print.toString().equals(fingerprint)) {
            return;
        }
        Map<String, ModelJson.Document> loaded = new TreeMap<>();
        Map<String, String> failed = new TreeMap<>();
        for (Path file : files.keySet()) {
            String fileName = file.getFileName().toString();
            String name = fileName.substring(0, fileName.length() - ".json".length());
            if (!NAME.matcher(name).matches()) {
                LOG.log(System.Logger.Level.WARNING, "prognostic model file " + file + " is ignored: a model name is"
                        + " letters, digits, '.', '_' or '-' (at most 64)");
                continue;
            }
            try {
                loaded.put(name, ModelJson.read(Files.readString(file, StandardCharsets.UTF_8),
                        "prognostic model file " + file));
            } catch (IOException | ArborException e) {
                failed.put(name, e.getMessage());
                LOG.log(System.Logger.Level.WARNING, "prognostic model file " + file + " is broken: "
                        + e.getMessage());
            }
        }
        models = java.util.Collections.unmodifiableMap(loaded);
        broken = java.util.Collections.unmodifiableMap(failed);
        fingerprint = print.toString();
    }
}
