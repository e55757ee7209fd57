package dev.arbor.watermark.lbw.internal;

import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.tokenizer.VocabularyPartition;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.images.PatchVqTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The committed patch VQ ({@code models/trained/fashion-vq/fashion-patch-vq.bin}) as an {@link ImageTokenizer}, for
 * the tests and the robustness harness: the same layout the {@code image-vq} provider gives (codes 0..K-1 = the
 * partition's image range, then class tokens, null class, feature-basis and level ids). Whole images only: partial
 * decoding and next-scale inputs are the provider's business, not a watermark's.
 */
final class PatchVqImageTokenizer implements ImageTokenizer {
    static final Path COMMITTED = Path.of("models/trained/fashion-vq/fashion-patch-vq.bin");

    private final PatchVqTokenizer vq;
    private final ImageLayout layout;

    PatchVqImageTokenizer(PatchVqTokenizer vq) {
        this.vq = vq;
        List<String> names = FashionMnist.CLASS_NAMES.stream().map(n -> n.toLowerCase(Locale.ROOT)).toList();
        this.layout = new ImageLayout(FashionMnist.SIDE, FashionMnist.SIDE, vq.codebookSize(), names, new int[] {7},
                16);
    }

    /** The committed tokenizer, found from the module or the repository root. */
    static PatchVqImageTokenizer committed() {
        for (Path base = Path.of("").toAbsolutePath(); base != null; base = base.getParent()) {
            Path file = base.resolve(COMMITTED);
            if (Files.isRegularFile(file)) {
                return new PatchVqImageTokenizer(PatchVqTokenizer.read(file));
            }
        }
        throw new IllegalStateException(COMMITTED + " not found above " + Path.of("").toAbsolutePath());
    }

    @Override
    public ImageLayout layout() {
        return layout;
    }

    @Override
    public float[][] decodeImage(int[] tokens) {
        if (tokens.length != vq.tokensPerImage()) {
            throw new IllegalArgumentException("this test tokenizer decodes whole images of " + vq.tokensPerImage()
                    + " tokens, got " + tokens.length);
        }
        float[] flat = vq.decode(tokens);
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
        return vq.encode(flat);
    }

    @Override
    public float[][] scaleInput(int[] tokens, int scale) {
        throw new UnsupportedOperationException("a raster tokenizer has one scale");
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
