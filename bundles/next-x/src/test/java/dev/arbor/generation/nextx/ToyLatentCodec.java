package dev.arbor.generation.nextx;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.LatentImageCodec;
import java.util.List;

/**
 * A small latent codec for loop tests: a {@code side × side} grid of latent tokens of {@code dim} values, wire form
 * 256 levels over [−3, 3], one pixel per latent token ({@code clamp((x_0 + 3)/6)}); layout
 * {@code (side, side, 256, classes c0.., [√(side²·dim)], dim)}. Deterministic and immutable.
 */
final class ToyLatentCodec implements LatentImageCodec {
    private final int side;
    private final int dim;
    private final ImageLayout layout;

    ToyLatentCodec(int side, int dim, int classes) {
        int wire = (int) Math.round(Math.sqrt(side * side * dim));
        if (wire * wire != side * side * dim) {
            throw new IllegalArgumentException("side² · dim must be a square");
        }
        this.side = side;
        this.dim = dim;
        List<String> names = new java.util.ArrayList<>();
        for (int c = 0; c < classes; c++) {
            names.add("c" + c);
        }
        this.layout = new ImageLayout(side, side, 256, names, new int[] {wire}, dim);
    }

    @Override
    public int latentDim() {
        return dim;
    }

    @Override
    public int latentTokens() {
        return side * side;
    }

    @Override
    public int gridSide() {
        return side;
    }

    @Override
    public float valueRange() {
        return 3f;
    }

    @Override
    public float[][] encodeLatents(float[][] pixels) {
        float[][] z = new float[side * side][dim];
        for (int i = 0; i < z.length; i++) {
            z[i][0] = pixels[i / side][i % side] * 6 - 3;
        }
        return z;
    }

    @Override
    public float[][] decodeLatents(float[][] latents) {
        float[][] px = new float[side][side];
        for (int i = 0; i < latents.length; i++) {
            px[i / side][i % side] = Math.max(0, Math.min(1, (latents[i][0] + 3) / 6));
        }
        return px;
    }

    @Override
    public int[] toIds(float[][] latents) {
        int[] ids = new int[latents.length * dim];
        for (int i = 0; i < latents.length; i++) {
            for (int j = 0; j < dim; j++) {
                ids[i * dim + j] = (int) Math.round((Math.max(-3, Math.min(3, latents[i][j])) + 3) / 6 * 255);
            }
        }
        return ids;
    }

    @Override
    public float[][] fromIds(int[] ids) {
        float[][] z = new float[ids.length / dim][dim];
        for (int i = 0; i < ids.length; i++) {
            z[i / dim][i % dim] = -3 + ids[i] * 6f / 255;
        }
        return z;
    }

    @Override
    public ImageLayout layout() {
        return layout;
    }

    @Override
    public float[][] decodeImage(int[] tokens) {
        return decodeLatents(fromIds(java.util.Arrays.copyOf(tokens, tokens.length / dim * dim)));
    }

    @Override
    public int[] encodeImage(float[][] pixels) {
        return toIds(encodeLatents(pixels));
    }

    @Override
    public float[][] scaleInput(int[] tokens, int scale) {
        throw new IllegalArgumentException("one scale");
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        try {
            return new int[] {layout.classToken(layout.parseClass(text))};
        } catch (IllegalArgumentException e) {
            throw ArborException.invalid(e.getMessage());
        }
    }

    @Override
    public String decode(int[] ids) {
        return "";
    }

    @Override
    public int vocabSize() {
        return layout.vocabSize();
    }
}
