package dev.arbor.testkit;

import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * A minimal {@link ImageTokenizer} for generator tests: its {@link #layout()} (which ids are codes, the class and
 * null-class tokens, tokens per image) is what image loops read; pair it with a toy backend of
 * {@code layout().vocabSize()} ids. Pixels are the code ids scaled to [0,1], one pixel
 * per token, so {@link #decodeImage} is a real (if trivial) rendering.
 */
public final class ToyImageTokenizer implements ImageTokenizer {
    private final ImageLayout layout;

    /** {@code codes} codes, {@code classes} classes, one raster scale of {@code side}x{@code side} tokens. */
    public ToyImageTokenizer(int codes, int classes, int side) {
        this(codes, classes, side, 1);
    }

    /**
     * As {@link #ToyImageTokenizer(int, int, int)} with {@code featureDim} feature-basis ids, for the layout of a
     * real prior (the fashion priors: 512 codes, 10 classes, side 7, featureDim 16, 540 ids).
     */
    public ToyImageTokenizer(int codes, int classes, int side, int featureDim) {
        List<String> names = new ArrayList<>();
        for (int k = 0; k < classes; k++) {
            names.add("class" + k);
        }
        this.layout = new ImageLayout(side, side, codes, names, new int[] {side}, featureDim);
    }

    @Override
    public ImageLayout layout() {
        return layout;
    }

    @Override
    public float[][] decodeImage(int[] tokens) {
        int side = layout.side(0);
        float[][] pixels = new float[side][side];
        for (int i = 0; i < tokens.length; i++) {
            if (!layout.isCode(tokens[i])) {
                throw new IllegalArgumentException("id " + tokens[i] + " is not a code");
            }
            pixels[i / side][i % side] = tokens[i] / (float) (layout.codes() - 1);
        }
        return pixels;
    }

    @Override
    public int[] encodeImage(float[][] pixels) {
        int side = layout.side(0);
        int[] out = new int[side * side];
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.round(pixels[i / side][i % side] * (layout.codes() - 1));
        }
        return out;
    }

    @Override
    public float[][] scaleInput(int[] tokens, int scale) {
        throw new UnsupportedOperationException("a raster layout has one scale");
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        return new int[] {layout.classToken(layout.parseClass(text))};
    }

    @Override
    public String decode(int[] ids) {
        StringBuilder out = new StringBuilder();
        for (int id : ids) {
            int k = layout.classOf(id);
            if (k >= 0) {
                out.append(layout.classNames().get(k));
            }
        }
        return out.toString();
    }

    @Override
    public int vocabSize() {
        return layout.vocabSize();
    }
}
