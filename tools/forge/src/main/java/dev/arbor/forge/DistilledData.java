package dev.arbor.forge;

import dev.arbor.api.image.ImageLayout;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Distilled Decoding's training pairs: per image its class, its noise {@code ε} [tokensPerImage × featureDim] and
 * the teacher's tokens for that noise ({@link DistilledTeacher}). As {@link Windows}, image {@code i} is the row
 * {@code [classToken, token_0 .. token_{n−1}, i]}: the last entry is the index {@link DistilledObjective} reads the
 * noise by. Written to and read from a small binary file so a training run can reuse generated pairs.
 */
final class DistilledData implements Windows {
    private static final int MAGIC = 0x44445031; // "DDP1"

    private final ImageLayout layout;
    private final int[] classes;
    private final int[][] tokens;
    private final float[][] noise;

    DistilledData(ImageLayout layout, int[] classes, int[][] tokens, float[][] noise) {
        if (classes.length != tokens.length || classes.length != noise.length) {
            throw new IllegalArgumentException("classes, tokens and noise must have one entry per image");
        }
        this.layout = layout;
        this.classes = classes;
        this.tokens = tokens;
        this.noise = noise;
    }

    /** Number of images. */
    int size() {
        return classes.length;
    }

    int classOf(int i) {
        return classes[i];
    }

    int[] tokens(int i) {
        return tokens[i];
    }

    /** Noise component j of token p of image i. */
    float noise(int i, int p, int j) {
        return noise[i][p * layout.featureDim() + j];
    }

    /** The images {@code from..to-1} as their own data set. */
    DistilledData slice(int from, int to) {
        return new DistilledData(layout, Arrays.copyOfRange(classes, from, to), Arrays.copyOfRange(tokens, from, to),
                Arrays.copyOfRange(noise, from, to));
    }

    private int[] row(int i) {
        int n = layout.tokensPerImage();
        int[] r = new int[n + 2];
        r[0] = layout.classToken(classes[i]);
        System.arraycopy(tokens[i], 0, r, 1, n);
        r[n + 1] = i;
        return r;
    }

    private void checkLength(int len) {
        if (len != layout.tokensPerImage() + 2) {
            throw new IllegalArgumentException("distilled-decoding windows have " + (layout.tokensPerImage() + 2)
                    + " ids (class, tokens, index), asked for " + len);
        }
    }

    @Override
    public int[][] randomWindows(int count, int len, SplittableRandom rng) {
        checkLength(len);
        int[][] out = new int[count][];
        for (int r = 0; r < count; r++) {
            out[r] = row(rng.nextInt(classes.length));
        }
        return out;
    }

    @Override
    public int[] window(int i, int len) {
        checkLength(len);
        return row(i % classes.length);
    }

    @Override
    public int windowCount(int len) {
        return len == layout.tokensPerImage() + 2 ? classes.length : 0;
    }

    @Override
    public int length() {
        return classes.length * (layout.tokensPerImage() + 2);
    }

    void write(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file)))) {
            int n = layout.tokensPerImage();
            int d = layout.featureDim();
            out.writeInt(MAGIC);
            out.writeInt(classes.length);
            out.writeInt(n);
            out.writeInt(d);
            for (int i = 0; i < classes.length; i++) {
                out.writeInt(classes[i]);
                for (int t : tokens[i]) {
                    out.writeShort(t);
                }
                for (float f : noise[i]) {
                    out.writeFloat(f);
                }
            }
        }
    }

    static DistilledData read(Path file, ImageLayout layout) throws IOException {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file)))) {
            if (in.readInt() != MAGIC) {
                throw new IOException(file + " is not a distilled-decoding pair file");
            }
            int count = in.readInt();
            int n = in.readInt();
            int d = in.readInt();
            if (n != layout.tokensPerImage() || d != layout.featureDim()) {
                throw new IOException(file + " holds " + n + " tokens x " + d + " noise components per image, the "
                        + "layout " + layout.tokensPerImage() + " x " + layout.featureDim());
            }
            int[] classes = new int[count];
            int[][] tokens = new int[count][n];
            float[][] noise = new float[count][n * d];
            for (int i = 0; i < count; i++) {
                classes[i] = in.readInt();
                for (int p = 0; p < n; p++) {
                    tokens[i][p] = in.readShort();
                }
                for (int j = 0; j < n * d; j++) {
                    noise[i][j] = in.readFloat();
                }
            }
            return new DistilledData(layout, classes, tokens, noise);
        }
    }
}
