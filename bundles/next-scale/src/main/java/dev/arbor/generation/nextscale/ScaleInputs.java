package dev.arbor.generation.nextscale;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.model.EmbeddingAccess;

/**
 * The input embeddings of a next-scale prior for scale {@code k >= 1}: cell {@code c} of the scale's token map gets
 * {@code E[level(k)] + Σ_j f[c][j]·E[basis(j)]}, with {@code f = tokenizer.scaleInput(tokens, k)} (the feature map
 * accumulated from the earlier scales, resampled to scale {@code k}) and E the prior's input-embedding rows: VAR's
 * {@code word_embed(f) + lvl_embed(k)} ({@code models/var.py} l.184-186) written in the prior's own embedding table,
 * as {@link ImageLayout} defines the feature-basis and level ids. The level and basis rows are read once per request.
 * Each entry is summed in double in a fixed order and rounded once, so equal inputs give bit-identical embeddings.
 */
final class ScaleInputs {
    private final ImageLayout layout;
    private final float[][] level;
    private final float[][] basis;
    private final int width;

    /** Reads the {@code scales + featureDim} rows this request needs from {@code embeddings}. */
    ScaleInputs(EmbeddingAccess embeddings, ImageLayout layout, String model) {
        this.layout = layout;
        this.width = embeddings.embeddingSize();
        this.level = new float[layout.scaleCount()][];
        this.basis = new float[layout.featureDim()][];
        for (int k = 0; k < level.length; k++) {
            level[k] = row(embeddings, layout.levelToken(k), model);
        }
        for (int j = 0; j < basis.length; j++) {
            basis[j] = row(embeddings, layout.featureBasisToken(j), model);
        }
    }

    private float[] row(EmbeddingAccess embeddings, int id, String model) {
        float[] e = embeddings.embedding(id);
        if (e == null || e.length != width) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, model + " returned an embedding of "
                    + (e == null ? "no" : e.length) + " values for id " + id + " but says its width is " + width);
        }
        return e;
    }

    /** Width of one embedding. */
    int width() {
        return width;
    }

    /**
     * The {@code side(k)²} input embeddings of scale {@code k >= 1}, raster order, from the image's tokens so far
     * (at least the {@code scaleStart(k)} tokens of scales {@code 0..k-1}).
     */
    float[][] forScale(ImageTokenizer tokenizer, int[] tokensSoFar, int k) {
        if (k < 1 || k >= layout.scaleCount()) {
            throw new IllegalArgumentException("scale " + k + " has no feature input (1.." + (layout.scaleCount() - 1)
                    + ")");
        }
        int cells = layout.side(k) * layout.side(k);
        float[][] f = tokenizer.scaleInput(java.util.Arrays.copyOf(tokensSoFar, layout.scaleStart(k)), k);
        if (f == null || f.length != cells) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the image tokenizer returned "
                    + (f == null ? "no" : f.length) + " feature cells for scale " + k + ", expected " + cells);
        }
        float[][] out = new float[cells][width];
        double[] acc = new double[width];
        for (int c = 0; c < cells; c++) {
            if (f[c].length != layout.featureDim()) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the image tokenizer returned a feature "
                        + "vector of " + f[c].length + " values for scale " + k + ", its layout says "
                        + layout.featureDim());
            }
            for (int i = 0; i < width; i++) {
                acc[i] = level[k][i];
            }
            for (int j = 0; j < basis.length; j++) {
                double fj = f[c][j];
                float[] b = basis[j];
                for (int i = 0; i < width; i++) {
                    acc[i] += fj * b[i];
                }
            }
            for (int i = 0; i < width; i++) {
                out[c][i] = (float) acc[i];
            }
        }
        return out;
    }
}
