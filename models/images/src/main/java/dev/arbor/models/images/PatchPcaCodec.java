package dev.arbor.models.images;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.LatentImageCodec;
import dev.arbor.api.tokenizer.VocabularyPartition;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.StringJoiner;

/**
 * A continuous image codec by patch PCA: each 4x4 patch of a 28x28 image (raster order, {@link PatchGrid}) becomes
 * the {@value #DIM} coordinates {@code s·B·(patch − mean)} of the full PCA of training patches (B orthonormal, rows
 * ordered by decreasing variance, s one global factor that puts the values in about [−3, 3]). With all 16 components
 * the transform is invertible, so an image round-trips exactly up to the 8-bit wire form and the pixel clamp; the
 * variance order makes the first values of a token the coarse ones.
 * <p>
 * Wire form ({@link LatentImageCodec}): one id per value, {@value #LEVELS} levels over {@code [−valueRange,
 * valueRange]}, token after token, so an image is 49·16 = 784 ids and the layout is {@code ImageLayout(28, 28, 256,
 * classes, [28], 16)}: class tokens 256..265, null class 266, basis ids 267..282, level id 283; priors over these
 * latents append their own ids (e.g. time ids) after {@link ImageLayout#vocabSize()}. As a text tokenizer it knows
 * only class prompts, like {@link VqImageTokenizer}. Immutable, hence thread-safe.
 * <p>
 * File ({@link #write}, big-endian): magic {@code "ARBPC" 0x00 0x0D 0x0A}, int version 1, int image side 28, int
 * patch side 4, int dim 16, float scale, float valueRange, float[16] mean, float[16][16] basis (component-major),
 * int CRC-32 of every byte before it.
 */
public final class PatchPcaCodec implements LatentImageCodec {
    /** Values per latent token: the pixels of a 4x4 patch (the full PCA). */
    public static final int DIM = PatchGrid.DIM;
    /** Wire levels per value (8-bit). */
    public static final int LEVELS = 256;
    static final byte[] MAGIC = {'A', 'R', 'B', 'P', 'C', 0, 0x0D, 0x0A};
    static final int VERSION = 1;

    private final float[] mean;
    private final float[][] basis;
    private final float scale;
    private final float valueRange;
    private final ImageLayout layout;

    /**
     * A codec of mean patch {@code mean} (16), orthonormal {@code basis} (16 rows of 16, copied), global factor
     * {@code scale} > 0 and wire range {@code valueRange} > 0, for priors conditioned on {@code classNames}.
     */
    public PatchPcaCodec(float[] mean, float[][] basis, float scale, float valueRange, List<String> classNames) {
        if (mean == null || mean.length != DIM || basis == null || basis.length != DIM) {
            throw ArborException.invalid("patch PCA needs a mean of " + DIM + " values and " + DIM + " basis rows");
        }
        if (!(scale > 0) || !Float.isFinite(scale) || !(valueRange > 0) || !Float.isFinite(valueRange)) {
            throw ArborException.invalid("patch PCA scale and value range must be finite and positive, got " + scale
                    + " and " + valueRange);
        }
        this.mean = mean.clone();
        this.basis = new float[DIM][];
        for (int j = 0; j < DIM; j++) {
            if (basis[j].length != DIM) {
                throw ArborException.invalid("basis row " + j + " has " + basis[j].length + " values, expected " + DIM);
            }
            this.basis[j] = basis[j].clone();
        }
        for (int a = 0; a < DIM; a++) {
            for (int b = a; b < DIM; b++) {
                double dot = 0;
                for (int d = 0; d < DIM; d++) dot += (double) this.basis[a][d] * this.basis[b][d];
                if (Math.abs(dot - (a == b ? 1 : 0)) > 1e-3) {
                    throw ArborException.invalid("patch PCA basis is not orthonormal: rows " + a + " and " + b
                            + " have dot product " + dot);
                }
            }
        }
        this.scale = scale;
        this.valueRange = valueRange;
        this.layout = new ImageLayout(PatchGrid.SIDE, PatchGrid.SIDE, LEVELS, classNames,
                new int[] {PatchGrid.SIDE}, DIM);
    }

    /**
     * Trains the PCA on {@code samples} patches drawn uniformly (seeded) from {@code images}: mean, covariance,
     * Jacobi eigen-decomposition, components by decreasing variance (sign: largest-magnitude entry positive, so the
     * result is deterministic); {@code scale} maps the {@code quantile} of |value| over the samples to
     * {@code valueRange}.
     */
    public static PatchPcaCodec train(float[][] images, int samples, long seed, float valueRange, double quantile,
                                      List<String> classNames) {
        float[][] patches = PatchVqTokenizer.samplePatches(images, samples, seed);
        double[] mu = new double[DIM];
        for (float[] p : patches) {
            for (int d = 0; d < DIM; d++) mu[d] += p[d];
        }
        for (int d = 0; d < DIM; d++) mu[d] /= patches.length;
        double[][] cov = new double[DIM][DIM];
        for (float[] p : patches) {
            for (int a = 0; a < DIM; a++) {
                double xa = p[a] - mu[a];
                for (int b = 0; b < DIM; b++) cov[a][b] += xa * (p[b] - mu[b]);
            }
        }
        for (double[] row : cov) {
            for (int b = 0; b < DIM; b++) row[b] /= patches.length - 1;
        }
        double[][] vectors = SymmetricEigen.decompose(cov); // rows: eigenvectors by decreasing eigenvalue
        float[] mean = new float[DIM];
        float[][] basis = new float[DIM][DIM];
        for (int d = 0; d < DIM; d++) mean[d] = (float) mu[d];
        for (int j = 0; j < DIM; j++) {
            int big = 0;
            for (int d = 1; d < DIM; d++) if (Math.abs(vectors[j][d]) > Math.abs(vectors[j][big])) big = d;
            double sign = vectors[j][big] < 0 ? -1 : 1;
            for (int d = 0; d < DIM; d++) basis[j][d] = (float) (sign * vectors[j][d]);
        }
        PatchPcaCodec unit = new PatchPcaCodec(mean, basis, 1f, valueRange, classNames);
        float[] magnitudes = new float[patches.length * DIM];
        for (int i = 0; i < patches.length; i++) {
            float[] v = unit.project(patches[i], 0);
            for (int d = 0; d < DIM; d++) magnitudes[i * DIM + d] = Math.abs(v[d]);
        }
        Arrays.sort(magnitudes);
        float q = magnitudes[(int) Math.min(magnitudes.length - 1, Math.floor(quantile * magnitudes.length))];
        return new PatchPcaCodec(mean, basis, valueRange / q, valueRange, classNames);
    }

    /** Reads a codec written by {@link #write}; ArborException NOT_FOUND or BAD_MODEL naming the file and cause. */
    public static PatchPcaCodec read(Path file, List<String> classNames) {
        byte[] all;
        try {
            all = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "patch PCA codec file " + file + " not found", e);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read " + file + ": " + e.getMessage(), e);
        }
        ByteBuffer in = ByteBuffer.wrap(all);
        try {
            byte[] magic = new byte[MAGIC.length];
            in.get(magic);
            if (!Arrays.equals(magic, MAGIC)) throw bad(file, "not an Arbor patch PCA codec file (bad magic)");
            int version = in.getInt();
            if (version != VERSION) throw bad(file, "unsupported version " + version + " (this reader knows " + VERSION + ")");
            int side = in.getInt();
            int patch = in.getInt();
            int dim = in.getInt();
            if (side != PatchGrid.SIDE || patch != PatchGrid.PATCH || dim != DIM) {
                throw bad(file, "image side " + side + " / patch " + patch + " / dim " + dim
                        + ", this build supports 28 / 4 / 16");
            }
            int expected = (2 + DIM + DIM * DIM) * Float.BYTES + Integer.BYTES;
            if (in.remaining() != expected) {
                throw bad(file, (in.remaining() < expected ? "truncated: " : "trailing bytes: ") + in.remaining()
                        + " bytes after the header, expected " + expected);
            }
            float scale = in.getFloat();
            float range = in.getFloat();
            float[] mean = new float[DIM];
            for (int d = 0; d < DIM; d++) mean[d] = in.getFloat();
            float[][] basis = new float[DIM][DIM];
            for (int j = 0; j < DIM; j++) {
                for (int d = 0; d < DIM; d++) basis[j][d] = in.getFloat();
            }
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(all, 0, in.position());
            if (in.getInt() != (int) crc.getValue()) throw bad(file, "checksum mismatch (file corrupted)");
            try {
                return new PatchPcaCodec(mean, basis, scale, range, classNames);
            } catch (ArborException e) {
                throw bad(file, e.getMessage());
            }
        } catch (BufferUnderflowException e) {
            throw ArborException.badModel(file + " is truncated (header incomplete, " + all.length + " bytes)", e);
        }
    }

    /** Writes the codec (format in the class comment). */
    public void write(Path file) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.write(MAGIC);
            out.writeInt(VERSION);
            out.writeInt(PatchGrid.SIDE);
            out.writeInt(PatchGrid.PATCH);
            out.writeInt(DIM);
            out.writeFloat(scale);
            out.writeFloat(valueRange);
            for (float v : mean) out.writeFloat(v);
            for (float[] row : basis) {
                for (float v : row) out.writeFloat(v);
            }
            out.flush();
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(bytes.toByteArray());
            out.writeInt((int) crc.getValue());
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            Files.write(file, bytes.toByteArray());
        } catch (IOException e) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, "cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    private static ArborException bad(Path file, String cause) {
        return ArborException.badModel(file + ": " + cause, null);
    }

    /** The global factor s of {@code s·B·(patch − mean)}. */
    public float scale() {
        return scale;
    }

    /** A copy of component {@code j} (unit vector over the 16 patch pixels, row-major). */
    public float[] component(int j) {
        return basis[j].clone();
    }

    @Override
    public int latentDim() {
        return DIM;
    }

    @Override
    public int latentTokens() {
        return PatchGrid.CELLS;
    }

    @Override
    public int gridSide() {
        return PatchGrid.GRID;
    }

    @Override
    public float valueRange() {
        return valueRange;
    }

    @Override
    public ImageLayout layout() {
        return layout;
    }

    /** The 16 scaled PCA coordinates of the patch at {@code features[offset..offset+16)}. */
    private float[] project(float[] features, int offset) {
        float[] v = new float[DIM];
        for (int j = 0; j < DIM; j++) {
            double s = 0;
            for (int d = 0; d < DIM; d++) s += (double) basis[j][d] * (features[offset + d] - mean[d]);
            v[j] = (float) (scale * s);
        }
        return v;
    }

    @Override
    public float[][] encodeLatents(float[][] pixels) {
        float[] f = PatchGrid.toFeatures(PatchGrid.flatten(pixels, "this codec"));
        float[][] latents = new float[PatchGrid.CELLS][];
        for (int cell = 0; cell < PatchGrid.CELLS; cell++) latents[cell] = project(f, cell * DIM);
        return latents;
    }

    @Override
    public float[][] decodeLatents(float[][] latents) {
        if (latents.length > PatchGrid.CELLS) {
            throw new IllegalArgumentException(latents.length + " latent tokens, an image has " + PatchGrid.CELLS);
        }
        float[] f = new float[PatchGrid.CELLS * DIM];
        for (int cell = 0; cell < latents.length; cell++) {
            float[] v = latents[cell];
            if (v == null || v.length != DIM) {
                throw new IllegalArgumentException("latent token " + cell + " has " + (v == null ? 0 : v.length)
                        + " values, expected " + DIM);
            }
            for (int d = 0; d < DIM; d++) {
                double s = mean[d];
                for (int j = 0; j < DIM; j++) s += basis[j][d] * (double) v[j] / scale;
                f[cell * DIM + d] = (float) s;
            }
        }
        return PatchGrid.rows(PatchGrid.toImage(f));
    }

    @Override
    public int[] toIds(float[][] latents) {
        int[] ids = new int[latents.length * DIM];
        for (int i = 0; i < latents.length; i++) {
            if (latents[i].length != DIM) {
                throw new IllegalArgumentException("latent token " + i + " has " + latents[i].length
                        + " values, expected " + DIM);
            }
            for (int d = 0; d < DIM; d++) ids[i * DIM + d] = quantise(latents[i][d]);
        }
        return ids;
    }

    @Override
    public float[][] fromIds(int[] ids) {
        if (ids.length % DIM != 0) {
            throw new IllegalArgumentException(ids.length + " wire ids are not a whole number of " + DIM
                    + "-value latent tokens");
        }
        float[][] latents = new float[ids.length / DIM][DIM];
        for (int i = 0; i < ids.length; i++) latents[i / DIM][i % DIM] = level(ids[i], i);
        return latents;
    }

    /** The wire id of a value: the nearest of 256 levels over [−range, range] (clamped; NaN → 0). */
    int quantise(float v) {
        if (Float.isNaN(v)) return (LEVELS - 1) / 2;
        double u = (Math.max(-valueRange, Math.min(valueRange, v)) + valueRange) / (2 * valueRange) * (LEVELS - 1);
        return (int) Math.round(u);
    }

    private float level(int id, int position) {
        if (id < 0 || id >= LEVELS) {
            throw new IllegalArgumentException("wire id " + id + " at " + position + " is not a value level (0.."
                    + (LEVELS - 1) + ")");
        }
        return (float) (-valueRange + id * (2.0 * valueRange / (LEVELS - 1)));
    }

    /**
     * The image of a prefix of wire ids: the latent tokens so far, the rest black; a partial last token decodes with
     * its missing (lower-variance) values at 0.
     */
    @Override
    public float[][] decodeImage(int[] tokens) {
        if (tokens.length > layout.tokensPerImage()) {
            throw new IllegalArgumentException(tokens.length + " tokens, an image has " + layout.tokensPerImage());
        }
        int whole = (tokens.length + DIM - 1) / DIM;
        float[][] latents = new float[whole][DIM];
        for (int i = 0; i < tokens.length; i++) latents[i / DIM][i % DIM] = level(tokens[i], i);
        return decodeLatents(latents);
    }

    @Override
    public int[] encodeImage(float[][] pixels) {
        return toIds(encodeLatents(pixels));
    }

    /** A latent codec has one scale: no next-scale input. */
    @Override
    public float[][] scaleInput(int[] tokens, int scale) {
        throw new IllegalArgumentException("scale " + scale + " has no next-scale input: a latent codec has one scale");
    }

    /** The one class token of a class name or index; INVALID_INPUT listing the classes for anything else. */
    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        try {
            return new int[] {layout.classToken(layout.parseClass(text))};
        } catch (IllegalArgumentException e) {
            throw ArborException.invalid(e.getMessage());
        }
    }

    /** Class tokens as their names (space-separated); wire ids and the other layout ids render as nothing. */
    @Override
    public String decode(int[] ids) {
        StringJoiner out = new StringJoiner(" ");
        for (int id : ids) {
            checkId(id);
            int k = layout.classOf(id);
            if (k >= 0) out.add(layout.classNames().get(k));
        }
        return out.toString();
    }

    @Override
    public String tokenText(int id) {
        checkId(id);
        if (layout.isCode(id)) return "<level " + id + ">";
        int k = layout.classOf(id);
        if (k >= 0) return layout.classNames().get(k);
        if (id == layout.nullClassToken()) return "<null class>";
        int basisId = id - layout.featureBasisToken(0);
        return basisId < layout.featureDim() ? "<basis " + basisId + ">" : "<scale level 0>";
    }

    @Override
    public int vocabSize() {
        return layout.vocabSize();
    }

    /** Image ids are the wire levels; the text ids are the class tokens. */
    @Override
    public VocabularyPartition partition() {
        return new VocabularyPartition(layout.codes(), layout.codes() + layout.classCount(), 0, layout.codes());
    }

    private void checkId(int id) {
        if (id < 0 || id >= layout.vocabSize()) {
            throw ArborException.invalid("token id " + id + " outside the image vocabulary 0.."
                    + (layout.vocabSize() - 1));
        }
    }

    @Override
    public String toString() {
        return "PatchPcaCodec[" + layout + ", scale=" + scale + ", range=" + valueRange + "]";
    }
}
