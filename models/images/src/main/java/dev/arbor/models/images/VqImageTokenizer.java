package dev.arbor.models.images;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.tokenizer.VocabularyPartition;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.StringJoiner;

/**
 * The {@link ImageTokenizer} of a {@link VqFile}: a single-scale patch VQ file (scales [7], raster order) or a VAR
 * multi-scale residual VQ file (scales 1, 2, 3, 4, 5, 7, next-scale order), both over the 7x7x16 patch grid of a
 * 28x28 gray image. Both run on {@link MultiScaleVq}: with the one scale 7 its area downsampling and bilinear
 * upsampling are the identity, so it encodes and decodes exactly as {@link PatchVqTokenizer} (tested), and one class
 * serves raster and next-scale priors alike.
 * <p>
 * As a text tokenizer it knows only class prompts: {@code encode} gives the one class token of a class name or index
 * ({@link ImageLayout#parseClass}), {@code decode} renders class tokens as their names and every other id as nothing.
 * Immutable, hence thread-safe.
 */
public final class VqImageTokenizer implements ImageTokenizer {
    /** Fashion-MNIST's class names in label order, lower case ("t-shirt/top", ..., "sneaker", "bag", "ankle boot"). */
    public static final List<String> FASHION_CLASSES = FashionMnist.CLASS_NAMES.stream()
            .map(n -> n.toLowerCase(Locale.ROOT)).toList();

    private final MultiScaleVq vq;
    private final ImageLayout layout;
    private final boolean raster;

    /** A tokenizer over {@code vq} for priors conditioned on {@code classNames} (index = class). */
    public VqImageTokenizer(MultiScaleVq vq, List<String> classNames) {
        this.vq = vq;
        this.layout = new ImageLayout(PatchGrid.SIDE, PatchGrid.SIDE, vq.codebookSize(), classNames, vq.scales(),
                PatchGrid.DIM);
        this.raster = layout.scaleCount() == 1;
    }

    /**
     * Reads a patch VQ or multi-scale VQ file ({@link VqFile}); an ArborException naming the file and the cause when it
     * is missing (NOT_FOUND) or malformed (BAD_MODEL).
     */
    public static VqImageTokenizer read(Path file, List<String> classNames) {
        VqFile.Contents c = VqFile.read(file, VqFile.ANY_KIND);
        if (c.kind() == VqFile.KIND_PATCH && (c.scales().length != 1 || c.scales()[0] != PatchGrid.GRID)) {
            throw ArborException.badModel(file + ": a patch VQ file must hold the single scale " + PatchGrid.GRID
                    + ", found " + java.util.Arrays.toString(c.scales()), null);
        }
        try {
            return new VqImageTokenizer(new MultiScaleVq(c.scales(), c.codebook()), classNames);
        } catch (ArborException | IllegalArgumentException e) {
            throw ArborException.badModel(file + ": " + e.getMessage(), e);
        }
    }

    /** The shared codebook of every scale, one row per code (a copy). */
    @Override
    public java.util.Optional<float[][]> codeVectors() {
        float[][] c = new float[vq.codebookSize()][];
        for (int k = 0; k < c.length; k++) {
            c[k] = vq.codeVector(k).clone();
        }
        return java.util.Optional.of(c);
    }

    @Override
    public ImageLayout layout() {
        return layout;
    }

    /** The one class token of a class name or index; INVALID_INPUT listing the classes for anything else. */
    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        try {
            return new int[] {layout.classToken(layout.parseClass(text))};
        } catch (IllegalArgumentException e) {
            throw ArborException.invalid(e.getMessage());
        }
    }

    /** Class tokens as their names (space-separated); codes and the other layout ids render as nothing. */
    @Override
    public String decode(int[] ids) {
        StringJoiner out = new StringJoiner(" ");
        for (int id : ids) {
            checkId(id);
            int k = layout.classOf(id);
            if (k >= 0) {
                out.add(layout.classNames().get(k));
            }
        }
        return out.toString();
    }

    /** A readable name for every id (logprob listings, debugging): {@code <code 17>}, class names, {@code <null>}. */
    @Override
    public String tokenText(int id) {
        checkId(id);
        if (layout.isCode(id)) {
            return "<code " + id + ">";
        }
        int k = layout.classOf(id);
        if (k >= 0) {
            return layout.classNames().get(k);
        }
        if (id == layout.nullClassToken()) {
            return "<null class>";
        }
        int basis = id - layout.featureBasisToken(0);
        return basis < layout.featureDim() ? "<basis " + basis + ">"
                : "<level " + (basis - layout.featureDim()) + ">";
    }

    @Override
    public int vocabSize() {
        return layout.vocabSize();
    }

    /** Image ids are the codes; the text ids are the class tokens (the only ids {@link #decode} renders). */
    @Override
    public VocabularyPartition partition() {
        return new VocabularyPartition(layout.codes(), layout.codes() + layout.classCount(), 0, layout.codes());
    }

    /**
     * Next-scale: the feature map of the scales complete in {@code tokens} (VAR's f̂ so far; a partial scale is not
     * shown). Raster: the patches so far, the rest black.
     */
    @Override
    public float[][] decodeImage(int[] tokens) {
        checkImageTokens(tokens);
        float[] image;
        if (raster) {
            float[] features = new float[PatchGrid.CELLS * PatchGrid.DIM];
            for (int cell = 0; cell < tokens.length; cell++) {
                System.arraycopy(vq.codeVector(tokens[cell]), 0, features, cell * PatchGrid.DIM, PatchGrid.DIM);
            }
            image = PatchGrid.toImage(features);
        } else {
            int complete = 0;
            while (complete < layout.scaleCount() && layout.scaleStart(complete + 1) <= tokens.length) {
                complete++;
            }
            image = PatchGrid.toImage(vq.accumulate(tokens, complete));
        }
        return PatchGrid.rows(image);
    }

    /** Nearest codes of each patch (raster) or VAR's residual multi-scale encoding (next-scale). */
    @Override
    public int[] encodeImage(float[][] pixels) {
        float[] flat = PatchGrid.flatten(pixels, "this tokenizer");
        return vq.encode(flat);
    }

    @Override
    public float[][] scaleInput(int[] tokens, int scale) {
        if (scale < 1 || scale >= layout.scaleCount()) {
            throw new IllegalArgumentException("scale " + scale + " has no next-scale input: "
                    + (raster ? "a raster tokenizer has one scale" : "give a scale 1.." + (layout.scaleCount() - 1)));
        }
        if (tokens.length < layout.scaleStart(scale)) {
            throw new IllegalArgumentException("scale " + scale + "'s input needs the " + layout.scaleStart(scale)
                    + " tokens of the scales before it, got " + tokens.length);
        }
        checkImageTokens(java.util.Arrays.copyOf(tokens, layout.scaleStart(scale)));
        float[] flat = vq.nextScaleInput(tokens, scale);
        int side = layout.side(scale);
        float[][] out = new float[side * side][];
        for (int cell = 0; cell < out.length; cell++) {
            out[cell] = java.util.Arrays.copyOfRange(flat, cell * PatchGrid.DIM, (cell + 1) * PatchGrid.DIM);
        }
        return out;
    }

    private void checkImageTokens(int[] tokens) {
        if (tokens.length > layout.tokensPerImage()) {
            throw new IllegalArgumentException(tokens.length + " tokens, an image has " + layout.tokensPerImage());
        }
        for (int i = 0; i < tokens.length; i++) {
            if (!layout.isCode(tokens[i])) {
                throw new IllegalArgumentException("token " + tokens[i] + " at " + i + " is not an image code (0.."
                        + (layout.codes() - 1) + ")");
            }
        }
    }

    private void checkId(int id) {
        if (id < 0 || id >= layout.vocabSize()) {
            throw ArborException.invalid("token id " + id + " outside the image vocabulary 0.."
                    + (layout.vocabSize() - 1));
        }
    }

    @Override
    public String toString() {
        return "VqImageTokenizer[" + layout + "]";
    }
}
