package dev.arbor.models.images;

import dev.arbor.api.ArborException;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.zip.CRC32;

/**
 * A 1D coarse-to-fine image tokenizer: stage-wise residual VQ of a whole image's PCA coefficients. An image is
 * projected on a {@link PcaBasis} (P components), then stage {@code i = 0..N−1} replaces the residual left by stages
 * {@code < i} with the nearest entry of its own codebook (K codes of width P) and subtracts it; token {@code i} is
 * stage {@code i}'s code index. Decoding any prefix of {@code n} tokens gives {@code mean + Vᵀ·Σ_{i<n} codebook_i[t_i]}
 * (clamped to [0,1]): one token is a blurry class-like silhouette, each further token adds detail.
 * <p>
 * This is the documented coarse-to-fine property of DetailFlow's tokenizer (Liu et al. 2025, "DetailFlow: 1D
 * Coarse-to-Fine Autoregressive Image Generation via Next-Detail Prediction": a prefix of the 1D token sequence decodes
 * to a lower-resolution image, more tokens add detail), implemented with stage-wise residual quantisation in a PCA basis;
 * DetailFlow itself learns a 1D transformer tokenizer with a resolution-conditioned decoder, which needs far more
 * compute than this project trains with. Here a prefix's reconstruction error is the residual energy after its
 * stages, which k-means on the residuals drives down stage by stage (tested on held-out images).
 * <p>
 * File format (big-endian, the conventions of {@link VqFile}):
 * <pre>
 *   bytes  "ARBC2F" + 0x0D 0x0A        magic (8 bytes)
 *   int    version                     1
 *   int    image side                  28
 *   int    P, N, K                     PCA components, stages (tokens per image), codebook size per stage
 *   float  side²                       mean image
 *   float  P × side²                   components, component-major
 *   float  N × K × P                   codebooks, stage-major then code-major
 *   int    CRC-32 of every byte before it
 * </pre>
 * Immutable, hence thread-safe.
 */
public final class CoarseToFineVq {
    static final byte[] MAGIC = {'A', 'R', 'B', 'C', '2', 'F', 0x0D, 0x0A};
    static final int VERSION = 1;
    private static final int MAX_K = 1 << 16;
    private static final int MAX_STAGES = 1024;

    private final PcaBasis basis;
    private final float[][][] codebooks; // [stage][code][P]
    private final float[][] norms;       // [stage][code]

    /** A tokenizer over {@code basis} with one codebook per stage (all of K codes of width {@code basis.size()}). */
    public CoarseToFineVq(PcaBasis basis, float[][][] codebooks) {
        if (basis.pixels() != FashionMnist.PIXELS) {
            throw ArborException.invalid("the basis covers " + basis.pixels() + " pixels, this build reads "
                    + FashionMnist.SIDE + "x" + FashionMnist.SIDE + " images");
        }
        if (codebooks == null || codebooks.length == 0 || codebooks.length > MAX_STAGES) {
            throw ArborException.invalid("a coarse-to-fine VQ needs 1.." + MAX_STAGES + " stages");
        }
        this.basis = basis;
        int k = codebooks[0].length;
        this.codebooks = new float[codebooks.length][][];
        this.norms = new float[codebooks.length][];
        for (int s = 0; s < codebooks.length; s++) {
            if (codebooks[s].length != k) {
                throw ArborException.invalid("stage " + s + " has " + codebooks[s].length + " codes, stage 0 has " + k);
            }
            this.codebooks[s] = new float[k][];
            for (int c = 0; c < k; c++) {
                float[] code = codebooks[s][c];
                if (code.length != basis.size()) {
                    throw ArborException.invalid("stage " + s + " code " + c + " has width " + code.length
                            + ", the basis " + basis.size() + " components");
                }
                for (float v : code) {
                    if (!Float.isFinite(v)) throw ArborException.invalid("stage " + s + " code " + c + " is not finite");
                }
                this.codebooks[s][c] = code.clone();
            }
            this.norms[s] = KMeans.norms(this.codebooks[s]);
        }
    }

    /**
     * Fits the basis ({@code components} of PCA over all {@code images}), then the {@code stages} codebooks in order:
     * k-means ({@code k} codes, k-means++ then {@code iterations} Lloyd steps) on the residual coefficients of
     * {@code imageCount} training images drawn with the seed, after which that stage quantizes them.
     */
    public static CoarseToFineVq train(float[][] images, int components, int stages, int k, int imageCount,
                                       int iterations, long seed) {
        PcaBasis basis = PcaBasis.fit(images, components, 60, seed);
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x2545F4914F6CDD1DL);
        float[][] rest = new float[imageCount][];
        for (int i = 0; i < imageCount; i++) rest[i] = basis.project(images[rnd.nextInt(images.length)]);
        float[][][] books = new float[stages][][];
        for (int s = 0; s < stages; s++) {
            books[s] = KMeans.train(rest, k, seed + s, iterations);
            float[] n = KMeans.norms(books[s]);
            for (float[] r : rest) {
                float[] c = books[s][KMeans.nearest(books[s], n, r, 0)];
                for (int j = 0; j < r.length; j++) r[j] -= c[j];
            }
        }
        return new CoarseToFineVq(basis, books);
    }

    /** Tokens per image N (= stages). */
    public int stages() {
        return codebooks.length;
    }

    /** Codes per stage K. */
    public int codebookSize() {
        return codebooks[0].length;
    }

    /** Width of a code: the number of PCA components P. */
    public int components() {
        return basis.size();
    }

    public PcaBasis basis() {
        return basis;
    }

    /** Code {@code id} of stage {@code stage} (a copy). */
    public float[] codeVector(int stage, int id) {
        return codebooks[stage][id].clone();
    }

    /** The N stage codes of a flattened 28x28 image in [0,1] (greedy residual quantisation, stage order). */
    public int[] encode(float[] image) {
        float[] r = basis.project(image);
        int[] tokens = new int[codebooks.length];
        for (int s = 0; s < codebooks.length; s++) {
            int id = KMeans.nearest(codebooks[s], norms[s], r, 0);
            tokens[s] = id;
            float[] c = codebooks[s][id];
            for (int j = 0; j < r.length; j++) r[j] -= c[j];
        }
        return tokens;
    }

    /** The PCA coefficients of a prefix: Σ over its stages of the chosen codes. */
    public float[] coefficients(int[] prefix) {
        checkTokens(prefix);
        float[] sum = new float[basis.size()];
        for (int s = 0; s < prefix.length; s++) {
            float[] c = codebooks[s][prefix[s]];
            for (int j = 0; j < sum.length; j++) sum[j] += c[j];
        }
        return sum;
    }

    /**
     * The flattened image of the first {@code prefix.length} tokens of an image (0..N), pixels clamped to [0,1]:
     * the empty prefix is the mean image, the full one the reconstruction.
     */
    public float[] decode(int[] prefix) {
        float[] x = basis.reconstruct(coefficients(prefix));
        for (int i = 0; i < x.length; i++) x[i] = Math.min(1f, Math.max(0f, x[i]));
        return x;
    }

    private void checkTokens(int[] tokens) {
        if (tokens.length > codebooks.length) {
            throw new IllegalArgumentException(tokens.length + " tokens, an image has " + codebooks.length);
        }
        int k = codebookSize();
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] < 0 || tokens[i] >= k) {
                throw new IllegalArgumentException("token " + tokens[i] + " at " + i + " is not a code (0.." + (k - 1)
                        + ")");
            }
        }
    }

    /** Writes the tokenizer in the format of the class comment. */
    public void write(Path file) {
        try {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.write(MAGIC);
            out.writeInt(VERSION);
            out.writeInt(FashionMnist.SIDE);
            out.writeInt(basis.size());
            out.writeInt(codebooks.length);
            out.writeInt(codebookSize());
            for (float v : basis.mean()) out.writeFloat(v);
            for (int j = 0; j < basis.size(); j++) {
                for (float v : basis.component(j)) out.writeFloat(v);
            }
            for (float[][] book : codebooks) {
                for (float[] code : book) {
                    for (float v : code) out.writeFloat(v);
                }
            }
            out.flush();
            CRC32 crc = new CRC32();
            crc.update(bytes.toByteArray());
            out.writeInt((int) crc.getValue());
            Path parent = file.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            Files.write(file, bytes.toByteArray());
        } catch (IOException e) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, "cannot write " + file + ": " + e.getMessage(), e);
        }
    }

    /** Whether {@code file} starts with this format's magic (a quick test telling it from {@link VqFile}s). */
    public static boolean isCoarseToFineFile(Path file) {
        try (var in = Files.newInputStream(file)) {
            return Arrays.equals(in.readNBytes(MAGIC.length), MAGIC);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Reads a file written by {@link #write}; an ArborException naming the file and the cause when it is missing
     * (NOT_FOUND) or malformed (BAD_MODEL).
     */
    public static CoarseToFineVq read(Path file) {
        byte[] all;
        try {
            all = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "coarse-to-fine tokenizer file " + file
                    + " not found", e);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read " + file + ": " + e.getMessage(), e);
        }
        ByteBuffer in = ByteBuffer.wrap(all);
        try {
            byte[] magic = new byte[MAGIC.length];
            in.get(magic);
            if (!Arrays.equals(magic, MAGIC)) {
                throw bad(file, "not an Arbor coarse-to-fine tokenizer file (bad magic; image-vq files are read by the"
                        + " image-vq tokenizer format)");
            }
            int version = in.getInt();
            if (version != VERSION) throw bad(file, "unsupported version " + version + " (this reader knows " + VERSION + ")");
            int side = in.getInt();
            if (side != FashionMnist.SIDE) throw bad(file, "image side " + side + ", this build supports " + FashionMnist.SIDE);
            int p = in.getInt();
            int n = in.getInt();
            int k = in.getInt();
            int pixels = side * side;
            if (p < 1 || p > pixels) throw bad(file, p + " PCA components, expected 1.." + pixels);
            if (n < 1 || n > MAX_STAGES) throw bad(file, n + " stages, expected 1.." + MAX_STAGES);
            if (k < 1 || k > MAX_K) throw bad(file, "codebook size K=" + k + " outside 1.." + MAX_K);
            long expected = ((long) pixels + (long) p * pixels + (long) n * k * p) * Float.BYTES + Integer.BYTES;
            if (in.remaining() != expected) {
                throw bad(file, (in.remaining() < expected ? "truncated: " : "trailing bytes: ") + in.remaining()
                        + " bytes after the header, expected " + expected);
            }
            float[] mean = floats(in, pixels, file, "the mean image");
            float[][] comps = new float[p][];
            for (int j = 0; j < p; j++) comps[j] = floats(in, pixels, file, "component " + j);
            float[][][] books = new float[n][k][];
            for (int s = 0; s < n; s++) {
                for (int c = 0; c < k; c++) books[s][c] = floats(in, p, file, "stage " + s + " code " + c);
            }
            CRC32 crc = new CRC32();
            crc.update(all, 0, in.position());
            if (in.getInt() != (int) crc.getValue()) throw bad(file, "checksum mismatch (file corrupted)");
            try {
                return new CoarseToFineVq(new PcaBasis(mean, comps, null), books);
            } catch (ArborException e) {
                throw bad(file, e.getMessage());
            }
        } catch (BufferUnderflowException e) {
            throw ArborException.badModel(file + " is truncated (header incomplete, " + all.length + " bytes)", e);
        }
    }

    private static float[] floats(ByteBuffer in, int count, Path file, String what) {
        float[] out = new float[count];
        for (int i = 0; i < count; i++) {
            out[i] = in.getFloat();
            if (!Float.isFinite(out[i])) throw bad(file, what + " holds a non-finite value");
        }
        return out;
    }

    private static ArborException bad(Path file, String cause) {
        return ArborException.badModel(file + ": " + cause, null);
    }

    @Override
    public String toString() {
        return "CoarseToFineVq[P=" + basis.size() + ", N=" + codebooks.length + ", K=" + codebookSize() + "]";
    }
}
