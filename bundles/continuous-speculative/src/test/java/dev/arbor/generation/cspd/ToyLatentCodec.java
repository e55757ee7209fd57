package dev.arbor.generation.cspd;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.LatentImageCodec;
import java.util.List;

/**
 * A tiny latent codec for generator tests: a 3x3 grid of latent tokens of 4 values, 16 wire levels over [−3, 3]
 * (so an image is 36 wire ids, one scale of side 6), 3 classes; a pixel of the 6x6 image is its token's first value
 * mapped to [0, 1] (2x2 pixels per token). Deterministic and immutable.
 */
final class ToyLatentCodec implements LatentImageCodec {
    static final int SIDE = 3;
    static final int DIM = 4;
    static final int LEVELS = 16;
    static final float RANGE = 3f;
    static final ImageLayout LAYOUT = new ImageLayout(6, 6, LEVELS, List.of("c0", "c1", "c2"), new int[] {6}, DIM);

    @Override
    public ImageLayout layout() {
        return LAYOUT;
    }

    @Override
    public int latentDim() {
        return DIM;
    }

    @Override
    public int latentTokens() {
        return SIDE * SIDE;
    }

    @Override
    public int gridSide() {
        return SIDE;
    }

    @Override
    public float valueRange() {
        return RANGE;
    }

    @Override
    public float[][] encodeLatents(float[][] pixels) {
        float[][] latents = new float[SIDE * SIDE][DIM];
        for (int t = 0; t < latents.length; t++) {
            latents[t][0] = pixels[(t / SIDE) * 2][(t % SIDE) * 2] * 2 * RANGE - RANGE;
        }
        return latents;
    }

    @Override
    public float[][] decodeLatents(float[][] latents) {
        if (latents.length > SIDE * SIDE) {
            throw new IllegalArgumentException("too many latent tokens: " + latents.length);
        }
        float[][] pixels = new float[6][6];
        for (int t = 0; t < latents.length; t++) {
            if (latents[t].length != DIM) {
                throw new IllegalArgumentException("latent token of " + latents[t].length + " values");
            }
            float v = Math.max(0f, Math.min(1f, (latents[t][0] + RANGE) / (2 * RANGE)));
            for (int dy = 0; dy < 2; dy++) {
                for (int dx = 0; dx < 2; dx++) {
                    pixels[(t / SIDE) * 2 + dy][(t % SIDE) * 2 + dx] = v;
                }
            }
        }
        return pixels;
    }

    @Override
    public int[] toIds(float[][] latents) {
        int[] ids = new int[latents.length * DIM];
        for (int t = 0; t < latents.length; t++) {
            for (int j = 0; j < DIM; j++) {
                float v = Math.max(-RANGE, Math.min(RANGE, latents[t][j]));
                ids[t * DIM + j] = Math.round((v + RANGE) / (2 * RANGE) * (LEVELS - 1));
            }
        }
        return ids;
    }

    @Override
    public float[][] fromIds(int[] ids) {
        if (ids.length % DIM != 0) {
            throw new IllegalArgumentException(ids.length + " ids are not whole tokens of " + DIM);
        }
        float[][] latents = new float[ids.length / DIM][DIM];
        for (int i = 0; i < ids.length; i++) {
            latents[i / DIM][i % DIM] = -RANGE + ids[i] * 2 * RANGE / (LEVELS - 1);
        }
        return latents;
    }

    @Override
    public float[][] decodeImage(int[] tokens) {
        return decodeLatents(fromIds(java.util.Arrays.copyOf(tokens, tokens.length / DIM * DIM)));
    }

    @Override
    public int[] encodeImage(float[][] pixels) {
        return toIds(encodeLatents(pixels));
    }

    @Override
    public float[][] scaleInput(int[] tokens, int scale) {
        throw new IllegalArgumentException("a latent codec has one scale");
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        try {
            return new int[] {LAYOUT.classToken(LAYOUT.parseClass(text))};
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
        return LAYOUT.vocabSize();
    }
}
