package dev.arbor.backend.onnxruntime;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.models.llama2c.Llama2cOnnxConverter;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Format {@code llama2c}: converts a llama2.c checkpoint into an Arbor ONNX decoder (attention_bias convention) with
 * {@link Llama2cOnnxConverter#convertCached}, which caches the result by the checkpoint's SHA-256, so only the first
 * open of a checkpoint pays for the conversion. The returned file is then opened as format {@code onnx}; its
 * {@code arbor.*} metadata supplies vocabulary, context length and special ids.
 */
final class Llama2cSupport {
    private Llama2cSupport() {
    }

    /** The converted ONNX file for {@code checkpoint}, honouring options {@code keep_layers} and {@code cache_dir}. */
    static Path convert(Path checkpoint, Options options) {
        if (!Files.isRegularFile(checkpoint)) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "llama2.c checkpoint '" + checkpoint
                    + "' does not exist");
        }
        int keepLayers = options.integer("keep_layers", 0, 0, Integer.MAX_VALUE);
        try {
            return Llama2cOnnxConverter.convertCached(checkpoint, keepLayers, cacheDir(options));
        } catch (NoClassDefFoundError e) {
            // The package import is optional (bnd.bnd) so that format onnx works without the converter bundle.
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "format llama2c of '" + checkpoint + "' needs "
                    + "the bundle dev.arbor.models.llama2c (package dev.arbor.models.llama2c), which is not "
                    + "installed; install it or convert the checkpoint to ONNX and use format onnx", e);
        }
    }

    /** Option {@code cache_dir}, else system property {@code arbor.cache}, else {@code ${java.io.tmpdir}/arbor-cache}. */
    static Path cacheDir(Options options) {
        String dir = options.string("cache_dir", null);
        if (dir == null || dir.isBlank()) {
            dir = System.getProperty("arbor.cache");
        }
        if (dir == null || dir.isBlank()) {
            return Path.of(System.getProperty("java.io.tmpdir"), "arbor-cache");
        }
        return Path.of(dir);
    }
}
