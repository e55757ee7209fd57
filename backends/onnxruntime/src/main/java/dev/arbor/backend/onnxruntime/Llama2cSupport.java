package dev.arbor.backend.onnxruntime;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cOnnxConverter;
import dev.arbor.models.llama2c.Llama2cPrecision;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Format {@code llama2c}: converts a llama2.c checkpoint into an Arbor ONNX decoder (attention_bias convention) with
 * {@link Llama2cOnnxConverter#convertCached}, which caches the result by the checkpoint's SHA-256, so only the first
 * open of a checkpoint pays for the conversion. The returned file is then opened as format {@code onnx}; its
 * {@code arbor.*} metadata supplies vocabulary, context length and special ids. Options {@code graph}
 * ({@code reference} | {@code fused}) and {@code precision} ({@code fp32} | {@code int8} | {@code int4}) pick the
 * graph ({@link Llama2cPrecision#of}): by default the fp32 reference graph; int8/int4 imply the fused graph, whose
 * metadata says {@code arbor.graph=fused}. Option {@code input_embeds} (boolean, default false) asks for the
 * reference graph that takes {@code inputs_embeds} instead of {@code input_ids}, which a card with attention
 * {@code SCALE_CAUSAL} implies ({@link Llama2cOnnxConverter#takesInputEmbeddings}).
 */
final class Llama2cSupport {
    private Llama2cSupport() {
    }

    /**
     * The converted ONNX file for {@code checkpoint}, honouring options {@code keep_layers}, {@code cache_dir},
     * {@code graph}, {@code precision} and {@code input_embeds}.
     */
    static Path convert(Path checkpoint, Options options) {
        if (!Files.isRegularFile(checkpoint)) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "llama2.c checkpoint '" + checkpoint
                    + "' does not exist");
        }
        int keepLayers = options.integer("keep_layers", 0, 0, Integer.MAX_VALUE);
        try {
            Llama2cPrecision precision = Llama2cPrecision.of(options.string("graph", null),
                    options.string("precision", null));
            return Llama2cOnnxConverter.convertCached(checkpoint, keepLayers, cacheDir(options), precision,
                    options.bool("input_embeds", false));
        } catch (NoClassDefFoundError e) {
            // The package import is optional (bnd.bnd) so that format onnx works without the converter bundle.
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "format llama2c of '" + checkpoint + "' needs "
                    + "the bundle dev.arbor.models.llama2c (package dev.arbor.models.llama2c), which is not "
                    + "installed; install it or convert the checkpoint to ONNX and use format onnx", e);
        }
    }

    /**
     * The token embedding of a llama2.c checkpoint ({@code token_embedding_table [vocab, dim]}, the first tensor after
     * the header, which the converter stores as the ONNX initializer {@code token_embedding}), read on first use with
     * {@link Llama2cCheckpoint#read} and then held ({@code vocab * dim} floats; the other weights are not kept).
     * Truncated-layer drafts ({@code keep_layers}) share the full model's embedding. Thread-safe.
     */
    static final class Embeddings {
        private final Path checkpoint;
        private final int vocabSize;
        private volatile float[] table;
        private int dim;

        Embeddings(Path checkpoint, int vocabSize) {
            this.checkpoint = checkpoint;
            this.vocabSize = vocabSize;
        }

        /** A fresh copy of the row of {@code tokenId}. */
        float[] row(int tokenId) {
            float[] t = table();
            if (tokenId < 0 || tokenId >= vocabSize) {
                throw ArborException.invalid("token id " + tokenId + " is outside the vocabulary [0, " + vocabSize
                        + ") of " + checkpoint);
            }
            float[] out = new float[dim];
            System.arraycopy(t, tokenId * dim, out, 0, dim);
            return out;
        }

        /**
         * Puts the row of {@code tokenId} (already checked against the vocabulary) into {@code out}, which the caller
         * sized for rows of {@code width} floats.
         *
         * @throws ArborException (BAD_MODEL) when the checkpoint's rows are not {@code width} wide
         */
        void put(int tokenId, int width, FloatBuffer out) {
            float[] t = table();
            if (dim != width) {
                throw ArborException.badModel("llama2.c checkpoint " + checkpoint + " has embeddings of width " + dim
                        + " but its converted model takes inputs_embeds of width " + width + "; delete the "
                        + "conversion cache and open it again", null);
            }
            out.put(t, tokenId * dim, dim);
        }

        /** The embedding width ({@code dim} of the checkpoint). */
        int size() {
            table();
            return dim;
        }

        private float[] table() {
            float[] t = table;
            if (t == null) {
                synchronized (this) {
                    t = table;
                    if (t == null) {
                        Llama2cCheckpoint weights = Llama2cCheckpoint.read(checkpoint);
                        if (weights.config().vocabSize() != vocabSize) {
                            throw ArborException.badModel("llama2.c checkpoint " + checkpoint + " has a vocabulary of "
                                    + weights.config().vocabSize() + " but its converted model has " + vocabSize
                                    + "; delete the conversion cache and open it again", null);
                        }
                        dim = weights.config().dim();
                        t = weights.tokenEmbedding();
                        table = t;
                    }
                }
            }
            return t;
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
