package dev.arbor.models.images;

/**
 * The 28x28 image as a 7x7 grid of 4x4 pixel patches: the feature map both tokenizers quantize. A feature map is a flat
 * {@code float[7*7*16]}, cell (r, c) at offset {@code (r*7 + c)*16}, the patch's pixels row-major inside the cell. No
 * learned embedding: the feature of a patch is its 16 pixels, so decoding is exact un-patching.
 */
public final class PatchGrid {
    public static final int SIDE = FashionMnist.SIDE;
    public static final int PATCH = 4;
    public static final int GRID = SIDE / PATCH;
    public static final int CELLS = GRID * GRID;
    public static final int DIM = PATCH * PATCH;

    private PatchGrid() {
    }

    /** The {@code [28][28]} rows of a flat row-major 28x28 image (fresh arrays). */
    public static float[][] rows(float[] image) {
        float[][] pixels = new float[SIDE][];
        for (int y = 0; y < SIDE; y++) {
            pixels[y] = java.util.Arrays.copyOfRange(image, y * SIDE, (y + 1) * SIDE);
        }
        return pixels;
    }

    /**
     * The flat row-major image of {@code [28][28]} rows; an {@code IllegalArgumentException} naming the row count or
     * the short row, and {@code reader} (e.g. "this tokenizer"), otherwise.
     */
    public static float[] flatten(float[][] pixels, String reader) {
        if (pixels.length != SIDE) {
            throw new IllegalArgumentException("image has " + pixels.length + " rows, " + reader + " reads " + SIDE
                    + "x" + SIDE);
        }
        float[] flat = new float[SIDE * SIDE];
        for (int y = 0; y < SIDE; y++) {
            if (pixels[y].length != SIDE) {
                throw new IllegalArgumentException("row " + y + " has " + pixels[y].length + " pixels, " + reader
                        + " reads " + SIDE + "x" + SIDE);
            }
            System.arraycopy(pixels[y], 0, flat, y * SIDE, SIDE);
        }
        return flat;
    }

    /** The 7x7x16 feature map of a 28x28 image (row-major pixels). */
    public static float[] toFeatures(float[] image) {
        if (image.length != SIDE * SIDE) {
            throw dev.arbor.api.ArborException.invalid("image has " + image.length + " pixels, expected 784 (28x28)");
        }
        float[] f = new float[CELLS * DIM];
        for (int r = 0; r < GRID; r++) {
            for (int c = 0; c < GRID; c++) {
                int base = (r * GRID + c) * DIM;
                for (int y = 0; y < PATCH; y++) {
                    System.arraycopy(image, (r * PATCH + y) * SIDE + c * PATCH, f, base + y * PATCH, PATCH);
                }
            }
        }
        return f;
    }

    /** The image of a feature map, each pixel clamped to [0,1] (the pixel range; sums of residual codes may overshoot). */
    public static float[] toImage(float[] features) {
        float[] img = new float[SIDE * SIDE];
        for (int r = 0; r < GRID; r++) {
            for (int c = 0; c < GRID; c++) {
                int base = (r * GRID + c) * DIM;
                for (int y = 0; y < PATCH; y++) {
                    for (int x = 0; x < PATCH; x++) {
                        float v = features[base + y * PATCH + x];
                        img[(r * PATCH + y) * SIDE + c * PATCH + x] = v < 0f ? 0f : Math.min(v, 1f);
                    }
                }
            }
        }
        return img;
    }
}
