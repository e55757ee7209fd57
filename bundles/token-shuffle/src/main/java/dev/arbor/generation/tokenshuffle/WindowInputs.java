package dev.arbor.generation.tokenshuffle;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.EmbeddingAccess;
import java.util.HashMap;
import java.util.Map;

/**
 * The input embedding of a merged window: {@code Σ_h E[h·V + code_h]}, V the layout's vocabulary (the prior's
 * vocabulary is s² slots of it) and E the prior's input-embedding rows. The paper merges a window by compressing each
 * token's embedding linearly and concatenating the s² results along channels, followed by residual MLP blocks; a
 * linear map of concatenated embeddings is a sum of slot-specific embedding tables, so this is the linear form of the
 * merge written in the prior's own embedding table (the residual MLP blocks are not reproduced), as the forge's
 * {@code TokenShuffleObjective} trains it. Rows are read once per request and summed in double in slot order, so
 * equal windows give bit-identical embeddings. Not thread-safe: one request owns it.
 */
final class WindowInputs {
    private final EmbeddingAccess embeddings;
    private final int slotVocab;
    private final int width;
    private final String model;
    private final Map<Integer, float[]> rows = new HashMap<>();

    WindowInputs(EmbeddingAccess embeddings, int slotVocab, String model) {
        this.embeddings = embeddings;
        this.slotVocab = slotVocab;
        this.width = embeddings.embeddingSize();
        this.model = model;
    }

    /** The merged embedding of a window's codes (slot h = index h). */
    float[] merge(int[] codes) {
        double[] acc = new double[width];
        for (int h = 0; h < codes.length; h++) {
            float[] e = row(h * slotVocab + codes[h]);
            for (int i = 0; i < width; i++) {
                acc[i] += e[i];
            }
        }
        float[] out = new float[width];
        for (int i = 0; i < width; i++) {
            out[i] = (float) acc[i];
        }
        return out;
    }

    private float[] row(int id) {
        return rows.computeIfAbsent(id, k -> {
            float[] e = embeddings.embedding(k);
            if (e == null || e.length != width) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, model + " returned an embedding of "
                        + (e == null ? "no" : e.length) + " values for id " + k + " but says its width is " + width);
            }
            return e;
        });
    }
}
