package dev.arbor.models.images;

import dev.arbor.api.ArborException;

import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * Single-scale patch VQ: each 4x4 patch of a 28x28 image becomes the index of its nearest code (squared Euclidean on the
 * 16 pixels), 7x7 = 49 tokens per image in raster order; decoding pastes the codes back. The codebook is k-means on
 * training patches ({@link #train}).
 */
public final class PatchVqTokenizer {
    private final float[][] codebook;
    private final float[] norms;

    /** A tokenizer over {@code codebook} (K codes of 16 values; copied). */
    public PatchVqTokenizer(float[][] codebook) {
        this.codebook = checkedCopy(codebook);
        this.norms = KMeans.norms(this.codebook);
    }

    /**
     * Trains the codebook: {@code samples} patches drawn uniformly (seeded) from {@code images}, k-means++ seeding and
     * {@code iterations} Lloyd steps.
     */
    public static PatchVqTokenizer train(float[][] images, int k, int samples, int iterations, long seed) {
        return new PatchVqTokenizer(KMeans.train(samplePatches(images, samples, seed), k, seed, iterations));
    }

    static float[][] samplePatches(float[][] images, int samples, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x5DEECE66DL);
        float[][] out = new float[samples][];
        for (int i = 0; i < samples; i++) {
            float[] f = PatchGrid.toFeatures(images[rnd.nextInt(images.length)]);
            int cell = rnd.nextInt(PatchGrid.CELLS);
            out[i] = java.util.Arrays.copyOfRange(f, cell * PatchGrid.DIM, (cell + 1) * PatchGrid.DIM);
        }
        return out;
    }

    /** Reads a tokenizer written by {@link #write}; ArborException (BAD_MODEL) naming the cause when malformed. */
    public static PatchVqTokenizer read(Path file) {
        VqFile.Contents c = VqFile.read(file, VqFile.KIND_PATCH);
        if (c.scales().length != 1 || c.scales()[0] != PatchGrid.GRID) {
            throw ArborException.badModel(file + ": a patch VQ file must hold the single scale 7, found "
                    + java.util.Arrays.toString(c.scales()), null);
        }
        return new PatchVqTokenizer(c.codebook());
    }

    /** Writes the codebook in the {@link VqFile} format. */
    public void write(Path file) {
        VqFile.write(file, VqFile.KIND_PATCH, new int[] {PatchGrid.GRID}, codebook);
    }

    /** The 49 token ids of a 28x28 image (pixels in [0,1], row-major), patches in raster order. */
    public int[] encode(float[] image) {
        float[] f = PatchGrid.toFeatures(image);
        int[] tokens = new int[PatchGrid.CELLS];
        for (int cell = 0; cell < PatchGrid.CELLS; cell++) {
            tokens[cell] = KMeans.nearest(codebook, norms, f, cell * PatchGrid.DIM);
        }
        return tokens;
    }

    /** The 28x28 image of 49 token ids: each patch is its code (clamped to [0,1]). */
    public float[] decode(int[] tokens) {
        if (tokens.length != PatchGrid.CELLS) {
            throw ArborException.invalid("patch VQ decodes " + PatchGrid.CELLS + " tokens, got " + tokens.length);
        }
        float[] f = new float[PatchGrid.CELLS * PatchGrid.DIM];
        for (int cell = 0; cell < PatchGrid.CELLS; cell++) {
            System.arraycopy(code(tokens[cell]), 0, f, cell * PatchGrid.DIM, PatchGrid.DIM);
        }
        return PatchGrid.toImage(f);
    }

    private float[] code(int id) {
        if (id < 0 || id >= codebook.length) {
            throw ArborException.invalid("token " + id + " outside the codebook 0.." + (codebook.length - 1));
        }
        return codebook[id];
    }

    public int tokensPerImage() {
        return PatchGrid.CELLS;
    }

    /** Codebook size K (the token vocabulary). */
    public int codebookSize() {
        return codebook.length;
    }

    /** A copy of code {@code id}'s 16 values. */
    public float[] codeVector(int id) {
        return code(id).clone();
    }

    static float[][] checkedCopy(float[][] codebook) {
        if (codebook == null || codebook.length == 0) throw ArborException.invalid("empty codebook");
        float[][] copy = new float[codebook.length][];
        for (int j = 0; j < codebook.length; j++) {
            if (codebook[j].length != PatchGrid.DIM) {
                throw ArborException.invalid("code " + j + " has " + codebook[j].length + " values, expected " + PatchGrid.DIM);
            }
            copy[j] = codebook[j].clone();
        }
        return copy;
    }
}
