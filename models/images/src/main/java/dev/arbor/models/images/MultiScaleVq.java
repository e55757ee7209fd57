package dev.arbor.models.images;

import dev.arbor.api.ArborException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * VAR's multi-scale residual VQ (Tian et al. 2024, {@code FoundationVision/VAR models/quant.py}) over the 7x7x16 patch
 * feature map of {@link PatchGrid}, with one codebook shared by all scales and no learned parts (no encoder, no φ
 * convolutions: the feature of a cell is its 4x4 pixels).
 * <p>
 * Encoding, scale by scale in increasing order (default sides 1, 2, 3, 4, 5, 7): area-average the residual down to
 * s×s (PyTorch's {@code interpolate(mode='area')}, i.e. adaptive average pooling), replace each cell by its nearest
 * code, upsample that s×s map back to 7×7 <b>bilinearly</b> (half-pixel centres, {@code align_corners=False}; VAR
 * uses bicubic, bilinear keeps every weight non-negative) and subtract it from the residual. The tokens are the
 * scales' s² indices concatenated in scale order, each scale raster-order: Σ s² = 104 per image. Decoding sums the
 * upsampled code maps ({@link #accumulate}) and un-patches, clamping pixels to [0,1].
 */
public final class MultiScaleVq {
    /** VAR's patch_nums scaled to the 7x7 grid. */
    public static final int[] DEFAULT_SCALES = {1, 2, 3, 4, 5, 7};

    private final int[] scales;
    private final int[] offsets; // offsets[k] = Σ_{j<k} s_j², offsets[n] = tokens per image
    private final float[][] codebook;
    private final float[] norms;

    /** A tokenizer with these scale sides (strictly increasing, ending at 7) over {@code codebook} (copied). */
    public MultiScaleVq(int[] scales, float[][] codebook) {
        this.scales = checkScales(scales);
        this.offsets = new int[scales.length + 1];
        for (int k = 0; k < scales.length; k++) offsets[k + 1] = offsets[k] + scales[k] * scales[k];
        this.codebook = PatchVqTokenizer.checkedCopy(codebook);
        this.norms = KMeans.norms(this.codebook);
    }

    private static int[] checkScales(int[] scales) {
        if (scales == null || scales.length == 0) throw ArborException.invalid("no scales");
        for (int k = 0; k < scales.length; k++) {
            if (scales[k] < 1 || (k > 0 && scales[k] <= scales[k - 1])) {
                throw ArborException.invalid("scales must be strictly increasing sides >= 1, got " + Arrays.toString(scales));
            }
        }
        if (scales[scales.length - 1] != PatchGrid.GRID) {
            throw ArborException.invalid("the last scale must be the full grid " + PatchGrid.GRID + ", got "
                    + Arrays.toString(scales));
        }
        return scales.clone();
    }

    /**
     * Trains the shared codebook by k-means on residuals in scale order, from {@code imageCount} training images drawn
     * (seeded) from {@code images}. First pass: for each scale in turn, the residual cells at that scale join the pool,
     * the codebook is (re)fitted to the pool ({@code iterations} Lloyd steps; k-means++ seeding at the first scale)
     * and then quantizes that scale, giving the next scale's residuals. Each further pass recomputes every residual
     * with the current codebook and refits it to the whole pool.
     */
    public static MultiScaleVq train(float[][] images, int[] scales, int k, int imageCount, int iterations,
                                     int passes, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x9E3779B97F4A7C15L);
        float[][] features = new float[imageCount][];
        for (int i = 0; i < imageCount; i++) features[i] = PatchGrid.toFeatures(images[rnd.nextInt(images.length)]);
        float[][] codebook = null;
        for (int pass = 0; pass < passes; pass++) {
            float[][] rest = new float[imageCount][];
            for (int i = 0; i < imageCount; i++) rest[i] = features[i].clone();
            List<float[]> pool = new ArrayList<>();
            for (int s : scales) {
                for (float[] r : rest) {
                    float[] down = areaDownsample(r, PatchGrid.GRID, s);
                    for (int cell = 0; cell < s * s; cell++) {
                        pool.add(Arrays.copyOfRange(down, cell * PatchGrid.DIM, (cell + 1) * PatchGrid.DIM));
                    }
                }
                if (pass == 0) {
                    float[][] data = pool.toArray(new float[0][]);
                    codebook = codebook == null ? KMeans.train(data, k, seed, iterations)
                            : KMeans.lloyd(data, codebook, iterations);
                }
                float[] n = KMeans.norms(codebook);
                for (float[] r : rest) subtractQuantized(r, s, codebook, n, null, 0);
            }
            if (pass > 0) codebook = KMeans.lloyd(pool.toArray(new float[0][]), codebook, iterations);
        }
        return new MultiScaleVq(scales, codebook);
    }

    /**
     * Quantizes the residual {@code rest} at side {@code s} and subtracts the upsampled code map from it in place;
     * the s² chosen ids go to {@code tokens[at ..]} when {@code tokens} is not null.
     */
    private static void subtractQuantized(float[] rest, int s, float[][] codebook, float[] norms, int[] tokens, int at) {
        float[] down = areaDownsample(rest, PatchGrid.GRID, s);
        float[] q = new float[s * s * PatchGrid.DIM];
        for (int cell = 0; cell < s * s; cell++) {
            int id = KMeans.nearest(codebook, norms, down, cell * PatchGrid.DIM);
            if (tokens != null) tokens[at + cell] = id;
            System.arraycopy(codebook[id], 0, q, cell * PatchGrid.DIM, PatchGrid.DIM);
        }
        float[] up = upsample(q, s, PatchGrid.GRID);
        for (int i = 0; i < rest.length; i++) rest[i] -= up[i];
    }

    /** Reads a tokenizer written by {@link #write}; ArborException (BAD_MODEL) naming the cause when malformed. */
    public static MultiScaleVq read(Path file) {
        VqFile.Contents c = VqFile.read(file, VqFile.KIND_MULTI_SCALE);
        try {
            return new MultiScaleVq(c.scales(), c.codebook());
        } catch (ArborException e) {
            throw ArborException.badModel(file + ": " + e.getMessage(), e);
        }
    }

    /** Writes scales and codebook in the {@link VqFile} format. */
    public void write(Path file) {
        VqFile.write(file, VqFile.KIND_MULTI_SCALE, scales, codebook);
    }

    /** The Σ s² token ids of a 28x28 image: scale after scale (coarsest first), each scale's cells in raster order. */
    public int[] encode(float[] image) {
        float[] rest = PatchGrid.toFeatures(image);
        int[] tokens = new int[tokensPerImage()];
        for (int k = 0; k < scales.length; k++) subtractQuantized(rest, scales[k], codebook, norms, tokens, offsets[k]);
        return tokens;
    }

    /** The 28x28 image of a full token sequence: the accumulated feature map of all scales, pixels clamped to [0,1]. */
    public float[] decode(int[] tokens) {
        if (tokens.length != tokensPerImage()) {
            throw ArborException.invalid("multi-scale VQ decodes " + tokensPerImage() + " tokens, got " + tokens.length);
        }
        return PatchGrid.toImage(accumulate(tokens, scales.length));
    }

    /**
     * VAR's f̂ after the first {@code scaleCount} scales: Σ_{k < scaleCount} upsample(codes of scale k) as a 7x7x16
     * feature map; {@code tokens} must hold at least those scales' tokens (extra tokens are ignored).
     */
    public float[] accumulate(int[] tokens, int scaleCount) {
        if (scaleCount < 0 || scaleCount > scales.length) {
            throw ArborException.invalid("scale count " + scaleCount + " outside 0.." + scales.length);
        }
        if (tokens.length < offsets[scaleCount]) {
            throw ArborException.invalid(scaleCount + " scales need " + offsets[scaleCount] + " tokens, got " + tokens.length);
        }
        float[] fhat = new float[PatchGrid.CELLS * PatchGrid.DIM];
        for (int k = 0; k < scaleCount; k++) {
            int s = scales[k];
            float[] q = new float[s * s * PatchGrid.DIM];
            for (int cell = 0; cell < s * s; cell++) {
                int id = tokens[offsets[k] + cell];
                if (id < 0 || id >= codebook.length) {
                    throw ArborException.invalid("token " + id + " at " + (offsets[k] + cell) + " outside the codebook 0.."
                            + (codebook.length - 1));
                }
                System.arraycopy(codebook[id], 0, q, cell * PatchGrid.DIM, PatchGrid.DIM);
            }
            float[] up = upsample(q, s, PatchGrid.GRID);
            for (int i = 0; i < fhat.length; i++) fhat[i] += up[i];
        }
        return fhat;
    }

    /**
     * The input VAR's transformer sees for scale {@code k}: f̂ of scales 0..k−1 area-averaged to scale k's side,
     * as s_k×s_k×16 (all zeros for k = 0).
     */
    public float[] nextScaleInput(int[] tokens, int k) {
        if (k < 0 || k >= scales.length) throw ArborException.invalid("scale " + k + " outside 0.." + (scales.length - 1));
        return areaDownsample(accumulate(tokens, k), PatchGrid.GRID, scales[k]);
    }

    /**
     * Area (adaptive average) downsampling of a side×side×16 map to to×to: output cell i averages input rows/columns
     * floor(i·side/to) .. ceil((i+1)·side/to) − 1, as PyTorch's {@code interpolate(mode='area')}.
     */
    public static float[] areaDownsample(float[] map, int side, int to) {
        int dim = PatchGrid.DIM;
        float[] out = new float[to * to * dim];
        for (int r = 0; r < to; r++) {
            int r0 = r * side / to;
            int r1 = -Math.floorDiv(-(r + 1) * side, to);
            for (int c = 0; c < to; c++) {
                int c0 = c * side / to;
                int c1 = -Math.floorDiv(-(c + 1) * side, to);
                int o = (r * to + c) * dim;
                for (int y = r0; y < r1; y++) {
                    for (int x = c0; x < c1; x++) {
                        int i = (y * side + x) * dim;
                        for (int d = 0; d < dim; d++) out[o + d] += map[i + d];
                    }
                }
                float inv = 1f / ((r1 - r0) * (c1 - c0));
                for (int d = 0; d < dim; d++) out[o + d] *= inv;
            }
        }
        return out;
    }

    /**
     * Bilinear upsampling of a side×side×16 map to to×to with half-pixel centres ({@code align_corners=False}):
     * output row y samples input coordinate max(0, (y + 0.5)·side/to − 0.5), clamped at the last row.
     */
    public static float[] upsample(float[] map, int side, int to) {
        int dim = PatchGrid.DIM;
        int[] i0 = new int[to];
        int[] i1 = new int[to];
        float[] w = new float[to];
        for (int y = 0; y < to; y++) {
            double src = Math.max(0.0, (y + 0.5) * side / to - 0.5);
            i0[y] = Math.min((int) Math.floor(src), side - 1);
            i1[y] = Math.min(i0[y] + 1, side - 1);
            w[y] = (float) (src - i0[y]);
        }
        float[] out = new float[to * to * dim];
        for (int y = 0; y < to; y++) {
            for (int x = 0; x < to; x++) {
                int o = (y * to + x) * dim;
                int a = (i0[y] * side + i0[x]) * dim, b = (i0[y] * side + i1[x]) * dim;
                int c = (i1[y] * side + i0[x]) * dim, e = (i1[y] * side + i1[x]) * dim;
                float wy = w[y], wx = w[x];
                for (int d = 0; d < dim; d++) {
                    float top = map[a + d] + wx * (map[b + d] - map[a + d]);
                    float bottom = map[c + d] + wx * (map[e + d] - map[c + d]);
                    out[o + d] = top + wy * (bottom - top);
                }
            }
        }
        return out;
    }

    /** Scale sides, coarsest first (a copy). */
    public int[] scales() {
        return scales.clone();
    }

    /** Index of scale k's first token in an image's sequence. */
    public int tokenOffset(int k) {
        return offsets[k];
    }

    /** Σ s² over the scales (104 for the default scales). */
    public int tokensPerImage() {
        return offsets[scales.length];
    }

    /** The scale index of each token position (the segment ids of VAR's block-causal mask). */
    public int[] scaleOfPosition() {
        int[] seg = new int[tokensPerImage()];
        for (int k = 0; k < scales.length; k++) Arrays.fill(seg, offsets[k], offsets[k + 1], k);
        return seg;
    }

    /** Codebook size K (the token vocabulary, shared by all scales). */
    public int codebookSize() {
        return codebook.length;
    }

    /** A copy of code {@code id}'s 16 values. */
    public float[] codeVector(int id) {
        if (id < 0 || id >= codebook.length) throw ArborException.invalid("token " + id + " outside the codebook");
        return codebook[id].clone();
    }
}
