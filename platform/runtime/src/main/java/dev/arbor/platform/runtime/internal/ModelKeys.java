package dev.arbor.platform.runtime.internal;

import dev.arbor.api.pipeline.ModelRef;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * What identifies a model's weights in the model cache: the backend service, the file's identity (its real path,
 * size and modification time, so two spellings of one file share an entry and a replaced file does not), the
 * format and the backend options — without options that only say where to put derived files, which change no
 * weight. Two references with the same key get one opened model.
 */
final class ModelKeys {
    /** Backend options that do not change the opened weights. */
    static final Set<String> NOT_WEIGHTS = Set.of("cache_dir");

    private ModelKeys() {
    }

    /** The cache key of {@code ref} opened by backend service {@code providerServiceId}. */
    static ResourceCache.Key key(long providerServiceId, ModelRef ref) {
        Map<String, Object> options = new TreeMap<>(ref.options().asMap());
        options.keySet().removeAll(NOT_WEIGHTS);
        return new ResourceCache.Key(providerServiceId, ref.backend() + "|" + ref.format() + "|" + identity(ref.path())
                + "|" + options);
    }

    /** The bytes a model takes once opened, estimated by its file's size (at least 1). */
    static long bytes(ModelRef ref) {
        try {
            return Math.max(1L, Files.size(Path.of(ref.path())));
        } catch (IOException | RuntimeException e) {
            return 1L;
        }
    }

    private static String identity(String path) {
        Path p = Path.of(path).toAbsolutePath().normalize();
        try {
            Path real = p.toRealPath();
            BasicFileAttributes a = Files.readAttributes(real, BasicFileAttributes.class);
            return real + "#" + a.size() + "@" + a.lastModifiedTime().toMillis();
        } catch (IOException | RuntimeException e) {
            return p.toString(); // the open fails and is not cached
        }
    }
}
