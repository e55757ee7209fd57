package dev.arbor.testkit;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A small multi-scale residual VQ image tokenizer for generator tests (VAR's scheme, METHODS.md §3.14, in miniature):
 * a seeded random codebook of {@code codes} vectors of width {@code featureDim}; an image's feature map lives on the
 * finest scale's grid; scale {@code k}'s codes are looked up, upsampled (nearest) to the finest grid and summed
 * ({@code f̂ += up(z_k)}); {@link #scaleInput} is {@code f̂} after scales {@code 0..k-1} area-averaged down to scale
 * {@code k}'s side; a pixel is {@code clamp((f̂[cell][0] + 1)/2)} of its cell; {@link #encodeImage} quantises the
 * residual greedily scale by scale. With one scale it is a plain patch VQ (raster layout). Deterministic and
 * immutable; no file, no training.
 */
public final class ToyImageTokenizer implements ImageTokenizer {
    private final ImageLayout layout;
    private final float[][] codebook;

    public ToyImageTokenizer(ImageLayout layout, long seed) {
        this.layout = layout;
        SplittableRandom rng = new SplittableRandom(seed);
        this.codebook = new float[layout.codes()][layout.featureDim()];
        for (float[] c : codebook) {
            for (int j = 0; j < c.length; j++) {
                c[j] = (float) (rng.nextDouble() * 2 - 1);
            }
        }
    }

    /** A layout of {@code width}x{@code width} pixels with classes {@code c0, c1, ...}. */
    public static ImageLayout layout(int width, int codes, int classes, int featureDim, int... scales) {
        List<String> names = new ArrayList<>();
        for (int c = 0; c < classes; c++) {
            names.add("c" + c);
        }
        return new ImageLayout(width, width, codes, names, scales, featureDim);
    }

    @Override
    public ImageLayout layout() {
        return layout;
    }

    /** The codebook vector of {@code code} (a copy). */
    public float[] codeVector(int code) {
        return codebook[code].clone();
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
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            int c = layout.classOf(id);
            if (c >= 0) {
                out.append(out.length() == 0 ? "" : " ").append(layout.classNames().get(c));
            }
        }
        return out.toString();
    }

    @Override
    public int vocabSize() {
        return layout.vocabSize();
    }

    @Override
    public float[][] decodeImage(int[] tokens) {
        float[][] f = accumulate(tokens, tokens.length);
        int side = finest();
        float[][] pixels = new float[layout.height()][layout.width()];
        for (int y = 0; y < layout.height(); y++) {
            for (int x = 0; x < layout.width(); x++) {
                int cell = (y * side / layout.height()) * side + x * side / layout.width();
                pixels[y][x] = Math.max(0f, Math.min(1f, (f[cell][0] + 1f) / 2f));
            }
        }
        return pixels;
    }

    @Override
    public int[] encodeImage(float[][] pixels) {
        int side = finest();
        float[][] residual = new float[side * side][layout.featureDim()];
        int[] counts = new int[side * side];
        for (int y = 0; y < layout.height(); y++) {
            for (int x = 0; x < layout.width(); x++) {
                int cell = (y * side / layout.height()) * side + x * side / layout.width();
                residual[cell][0] += pixels[y][x] * 2f - 1f;
                counts[cell]++;
            }
        }
        for (int c = 0; c < residual.length; c++) {
            residual[c][0] /= counts[c];
        }
        int[] tokens = new int[layout.tokensPerImage()];
        for (int k = 0; k < layout.scaleCount(); k++) {
            float[][] target = down(residual, layout.side(k));
            int start = layout.scaleStart(k);
            for (int c = 0; c < target.length; c++) {
                tokens[start + c] = nearest(target[c]);
            }
            float[][] up = up(scale(tokens, k), layout.side(k));
            for (int c = 0; c < residual.length; c++) {
                for (int j = 0; j < layout.featureDim(); j++) {
                    residual[c][j] -= up[c][j];
                }
            }
        }
        return tokens;
    }

    @Override
    public float[][] scaleInput(int[] tokens, int scale) {
        if (scale < 1 || scale >= layout.scaleCount()) {
            throw new IllegalArgumentException("scale " + scale + " has no input (1.." + (layout.scaleCount() - 1) + ")");
        }
        return down(accumulate(tokens, layout.scaleStart(scale)), layout.side(scale));
    }

    /** f̂ on the finest grid from the first {@code count} tokens (whole scales only contribute). */
    private float[][] accumulate(int[] tokens, int count) {
        if (count > layout.tokensPerImage() || tokens.length < count) {
            throw new IllegalArgumentException(tokens.length + " tokens for " + count + " positions of an image of "
                    + layout.tokensPerImage());
        }
        for (int i = 0; i < count; i++) {
            if (!layout.isCode(tokens[i])) {
                throw new IllegalArgumentException("token " + i + " is " + tokens[i] + ", not a code");
            }
        }
        int side = finest();
        float[][] f = new float[side * side][layout.featureDim()];
        for (int k = 0; k < layout.scaleCount() && layout.scaleStart(k + 1) <= count; k++) {
            float[][] up = up(scale(tokens, k), layout.side(k));
            for (int c = 0; c < f.length; c++) {
                for (int j = 0; j < f[c].length; j++) {
                    f[c][j] += up[c][j];
                }
            }
        }
        return f;
    }

    private float[][] scale(int[] tokens, int k) {
        int start = layout.scaleStart(k);
        int n = layout.side(k) * layout.side(k);
        float[][] z = new float[n][];
        for (int c = 0; c < n; c++) {
            z[c] = codebook[tokens[start + c]];
        }
        return z;
    }

    private int finest() {
        return layout.side(layout.scaleCount() - 1);
    }

    /** Nearest-neighbour upsampling of a {@code from}² map to the finest grid. */
    private float[][] up(float[][] map, int from) {
        int side = finest();
        float[][] out = new float[side * side][];
        for (int y = 0; y < side; y++) {
            for (int x = 0; x < side; x++) {
                out[y * side + x] = map[(y * from / side) * from + x * from / side];
            }
        }
        return out;
    }

    /** Area average of a finest-grid map down to {@code to}² (cells assigned by nearest-neighbour parent). */
    private float[][] down(float[][] map, int to) {
        int side = finest();
        float[][] out = new float[to * to][layout.featureDim()];
        int[] counts = new int[to * to];
        for (int y = 0; y < side; y++) {
            for (int x = 0; x < side; x++) {
                int cell = (y * to / side) * to + x * to / side;
                counts[cell]++;
                for (int j = 0; j < layout.featureDim(); j++) {
                    out[cell][j] += map[y * side + x][j];
                }
            }
        }
        for (int c = 0; c < out.length; c++) {
            for (int j = 0; j < layout.featureDim(); j++) {
                out[c][j] /= Math.max(1, counts[c]);
            }
        }
        return out;
    }

    private int nearest(float[] v) {
        int best = 0;
        double bestDistance = Double.POSITIVE_INFINITY;
        for (int i = 0; i < codebook.length; i++) {
            double d = 0;
            for (int j = 0; j < v.length; j++) {
                double e = v[j] - codebook[i][j];
                d += e * e;
            }
            if (d < bestDistance) {
                bestDistance = d;
                best = i;
            }
        }
        return best;
    }
}
