package dev.arbor.forge;

import dev.arbor.api.image.ImageLayout;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * Tokenized images as training windows, one per image: {@code [classToken(label), token_0 .. token_{n-1}]}, so a
 * window never straddles two images. Tokenized once and kept in memory (Fashion-MNIST's 70,000 images are 14 MB of
 * ids at 50 per image).
 */
public final class ImageData implements Windows {
    private final int[][] rows;

    private ImageData(int[][] rows) {
        this.rows = rows;
    }

    /** The first {@code limit} (all when {@code limit <= 0}) of {@code images} encoded by {@code encode}. */
    public static ImageData encode(float[][] images, int[] labels, int limit, ImageLayout layout,
                                   Function<float[], int[]> encode) {
        return encode(images, labels, limit, layout, encode, layout.tokensPerImage());
    }

    /**
     * As {@link #encode(float[][], int[], int, ImageLayout, Function)} for an encoder that gives {@code tokens} ids
     * per image (more than the layout's image tokens when a prompt precedes them, as {@link VfPromptObjective}).
     */
    public static ImageData encode(float[][] images, int[] labels, int limit, ImageLayout layout,
                                   Function<float[], int[]> encode, int tokens) {
        int n = limit > 0 ? Math.min(limit, images.length) : images.length;
        int[][] rows = new int[n][];
        for (int i = 0; i < n; i++) {
            int[] ids = encode.apply(images[i]);
            if (ids.length != tokens) {
                throw new IllegalArgumentException("the tokenizer gave " + ids.length + " tokens for image " + i
                        + ", expected " + tokens + " (layout " + layout + ")");
            }
            rows[i] = new int[ids.length + 1];
            rows[i][0] = layout.classToken(labels[i]);
            System.arraycopy(ids, 0, rows[i], 1, ids.length);
        }
        return new ImageData(rows);
    }

    /** Number of images. */
    public int size() {
        return rows.length;
    }

    private void checkLength(int len) {
        if (rows.length == 0 || len != rows[0].length) {
            throw new IllegalArgumentException("image windows have " + (rows.length == 0 ? 0 : rows[0].length)
                    + " ids (class token + image tokens), asked for " + len);
        }
    }

    /** {@code count} images drawn uniformly with replacement. */
    @Override
    public int[][] randomWindows(int count, int len, SplittableRandom rng) {
        checkLength(len);
        int[][] out = new int[count][];
        for (int i = 0; i < count; i++) {
            out[i] = rows[rng.nextInt(rows.length)].clone();
        }
        return out;
    }

    @Override
    public int[] window(int i, int len) {
        checkLength(len);
        return rows[i % rows.length].clone();
    }

    @Override
    public int windowCount(int len) {
        return rows.length == 0 || len != rows[0].length ? 0 : rows.length;
    }

    @Override
    public int length() {
        return rows.length == 0 ? 0 : rows.length * rows[0].length;
    }
}
