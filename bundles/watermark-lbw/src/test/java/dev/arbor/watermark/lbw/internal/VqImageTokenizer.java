package dev.arbor.watermark.lbw.internal;

import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.tokenizer.VocabularyPartition;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.images.MultiScaleVq;
import dev.arbor.models.images.PatchVqTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * The committed Fashion-MNIST tokenizers ({@code models/trained/fashion-vq}: patch VQ, 49 tokens; multi-scale
 * residual VQ, 104 tokens) as {@link ImageTokenizer}s, for the tests and the robustness harness: the layout the
 * {@code image-vq} provider gives (codes 0..K-1 = the partition's image range, then class tokens, null class,
 * feature-basis and level ids). Whole images only: partial decoding and next-scale inputs are the provider's
 * business, not a watermark's.
 */
final class VqImageTokenizer implements ImageTokenizer {
    static final Path PATCH = Path.of("models/trained/fashion-vq/fashion-patch-vq.bin");
    static final Path MULTI_SCALE = Path.of("models/trained/fashion-vq/fashion-msvq.bin");

    private final Function<float[], int[]> encoder;
    private final Function<int[], float[]> decoder;
    private final ImageLayout layout;

    VqImageTokenizer(Function<float[], int[]> encoder, Function<int[], float[]> decoder, int codes, int[] scales) {
        this.encoder = encoder;
        this.decoder = decoder;
        List<String> names = FashionMnist.CLASS_NAMES.stream().map(n -> n.toLowerCase(Locale.ROOT)).toList();
        this.layout = new ImageLayout(FashionMnist.SIDE, FashionMnist.SIDE, codes, names, scales, 16);
    }

    /** The committed patch VQ (raster, scale 7). */
    static VqImageTokenizer committed() {
        PatchVqTokenizer vq = PatchVqTokenizer.read(find(PATCH));
        return new VqImageTokenizer(vq::encode, vq::decode, vq.codebookSize(), new int[] {7});
    }

    /** The committed multi-scale residual VQ (next-scale, scales 1, 2, 3, 4, 5, 7). */
    static VqImageTokenizer committedMultiScale() {
        MultiScaleVq vq = MultiScaleVq.read(find(MULTI_SCALE));
        return new VqImageTokenizer(vq::encode, vq::decode, vq.codebookSize(), vq.scales());
    }

    /** {@code file} under the module's directory or one above it (the repository root). */
    static Path find(Path file) {
        for (Path base = Path.of("").toAbsolutePath(); base != null; base = base.getParent()) {
            if (Files.isRegularFile(base.resolve(file))) {
                return base.resolve(file);
            }
        }
        throw new IllegalStateException(file + " not found above " + Path.of("").toAbsolutePath());
    }

    @Override
    public ImageLayout layout() {
        return layout;
    }

    @Override
    public float[][] decodeImage(int[] tokens) {
        if (tokens.length != layout.tokensPerImage()) {
            throw new IllegalArgumentException("this test tokenizer decodes whole images of "
                    + layout.tokensPerImage() + " tokens, got " + tokens.length);
        }
        float[] flat = decoder.apply(tokens);
        float[][] pixels = new float[layout.height()][layout.width()];
        for (int y = 0; y < layout.height(); y++) {
            System.arraycopy(flat, y * layout.width(), pixels[y], 0, layout.width());
        }
        return pixels;
    }

    @Override
    public int[] encodeImage(float[][] pixels) {
        float[] flat = new float[layout.width() * layout.height()];
        for (int y = 0; y < layout.height(); y++) {
            System.arraycopy(pixels[y], 0, flat, y * layout.width(), layout.width());
        }
        return encoder.apply(flat);
    }

    @Override
    public float[][] scaleInput(int[] tokens, int scale) {
        throw new UnsupportedOperationException("next-scale inputs are the image-vq provider's, not a watermark's");
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        return new int[] {layout.classToken(layout.parseClass(text))};
    }

    @Override
    public String decode(int[] ids) {
        StringBuilder s = new StringBuilder();
        for (int id : ids) {
            int k = layout.classOf(id);
            if (k >= 0) {
                s.append(layout.classNames().get(k));
            }
        }
        return s.toString();
    }

    @Override
    public int vocabSize() {
        return layout.vocabSize();
    }

    @Override
    public VocabularyPartition partition() {
        return new VocabularyPartition(layout.codes(), layout.vocabSize(), 0, layout.codes());
    }
}
