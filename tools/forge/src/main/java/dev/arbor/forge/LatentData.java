package dev.arbor.forge;

import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.LatentImageCodec;
import java.util.SplittableRandom;

/**
 * Images as continuous latent tokens ({@link LatentImageCodec#encodeLatents}), encoded once and kept in memory
 * (Fashion-MNIST's 70,000 images are 220 MB as 49x16 floats). A window is {@code [classToken(label), imageIndex]}:
 * continuous objectives ({@link GaussianLatentObjective}) look the latents up by index, so the forge's id-window
 * {@link Trainer} serves them unchanged.
 */
public final class LatentData implements Windows {
    private final float[][][] latents;
    private final int[] classTokens;

    private LatentData(float[][][] latents, int[] classTokens) {
        this.latents = latents;
        this.classTokens = classTokens;
    }

    /** The first {@code limit} (all when {@code limit <= 0}) of {@code images} (flat 28x28 rows) encoded by {@code codec}. */
    public static LatentData encode(float[][] images, int[] labels, int limit, LatentImageCodec codec) {
        ImageLayout layout = codec.layout();
        int n = limit > 0 ? Math.min(limit, images.length) : images.length;
        int side = layout.height();
        float[][][] latents = new float[n][][];
        int[] classes = new int[n];
        for (int i = 0; i < n; i++) {
            float[][] pixels = new float[side][layout.width()];
            for (int y = 0; y < side; y++) {
                System.arraycopy(images[i], y * layout.width(), pixels[y], 0, layout.width());
            }
            latents[i] = codec.encodeLatents(pixels);
            classes[i] = layout.classToken(labels[i]);
        }
        return of(latents, classes);
    }

    /** Latents [image][token][dim] with each image's class token (tests, synthetic data). */
    public static LatentData of(float[][][] latents, int[] classTokens) {
        if (latents.length == 0 || latents.length != classTokens.length) {
            throw new IllegalArgumentException("latent data needs at least one image and one class token per image");
        }
        return new LatentData(latents, classTokens.clone());
    }

    /** Number of images. */
    public int size() {
        return latents.length;
    }

    /** Latent tokens per image. */
    public int tokens() {
        return latents[0].length;
    }

    /** Values per latent token. */
    public int dim() {
        return latents[0][0].length;
    }

    /** The latent tokens of image {@code i} (the stored array: do not modify). */
    public float[][] latents(int i) {
        return latents[i];
    }

    /** The class token of image {@code i}. */
    public int classToken(int i) {
        return classTokens[i];
    }

    private static void checkLength(int len) {
        if (len != 2) {
            throw new IllegalArgumentException("latent windows are [class token, image index], asked for " + len);
        }
    }

    @Override
    public int[][] randomWindows(int count, int len, SplittableRandom rng) {
        checkLength(len);
        int[][] out = new int[count][];
        for (int i = 0; i < count; i++) {
            int k = rng.nextInt(latents.length);
            out[i] = new int[] {classTokens[k], k};
        }
        return out;
    }

    @Override
    public int[] window(int i, int len) {
        checkLength(len);
        int k = i % latents.length;
        return new int[] {classTokens[k], k};
    }

    @Override
    public int windowCount(int len) {
        return len == 2 ? latents.length : 0;
    }

    @Override
    public int length() {
        return latents.length * 2;
    }
}
