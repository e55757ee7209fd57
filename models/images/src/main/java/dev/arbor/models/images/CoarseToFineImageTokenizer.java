package dev.arbor.models.images;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.tokenizer.VocabularyPartition;

import java.nio.file.Path;
import java.util.List;
import java.util.StringJoiner;

/**
 * The {@link ImageTokenizer} of a {@link CoarseToFineVq} file: N = side² one-dimensional tokens per image in
 * coarse-to-fine order (DetailFlow's next-detail order), laid out as one "scale" of side √N
 * ({@link ImageLayout#scales()} = [side]; the square is only a count, the tokens have no 2D position). Feature width =
 * the PCA components P. {@link #decodeImage} of any prefix is the coarse image of that prefix, so partial canvases
 * sharpen as tokens arrive.
 * <p>
 * As a text tokenizer it knows only class prompts, like {@link VqImageTokenizer}. Immutable, hence thread-safe.
 */
public final class CoarseToFineImageTokenizer implements ImageTokenizer {
    private final CoarseToFineVq vq;
    private final ImageLayout layout;

    /** A tokenizer over {@code vq} (N must be a square) for priors conditioned on {@code classNames}. */
    public CoarseToFineImageTokenizer(CoarseToFineVq vq, List<String> classNames) {
        int side = (int) Math.round(Math.sqrt(vq.stages()));
        if (side * side != vq.stages()) {
            throw ArborException.invalid("a coarse-to-fine tokenizer for image priors needs a square number of stages"
                    + " (the layout's one scale is their square root), got " + vq.stages());
        }
        this.vq = vq;
        this.layout = new ImageLayout(FashionMnist.SIDE, FashionMnist.SIDE, vq.codebookSize(), classNames,
                new int[] {side}, vq.components());
    }

    /** Reads a {@link CoarseToFineVq} file; ArborException NOT_FOUND or BAD_MODEL naming the file and the cause. */
    public static CoarseToFineImageTokenizer read(Path file, List<String> classNames) {
        CoarseToFineVq vq = CoarseToFineVq.read(file);
        try {
            return new CoarseToFineImageTokenizer(vq, classNames);
        } catch (ArborException | IllegalArgumentException e) {
            throw ArborException.badModel(file + ": " + e.getMessage(), e);
        }
    }

    /** The quantizer behind this tokenizer. */
    public CoarseToFineVq vq() {
        return vq;
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
            if (k >= 0) out.add(layout.classNames().get(k));
        }
        return out.toString();
    }

    /** {@code <detail i>} for codes (stage unknown from the id alone), class names, {@code <null class>}, basis ids. */
    @Override
    public String tokenText(int id) {
        checkId(id);
        if (layout.isCode(id)) return "<code " + id + ">";
        int k = layout.classOf(id);
        if (k >= 0) return layout.classNames().get(k);
        if (id == layout.nullClassToken()) return "<null class>";
        int basis = id - layout.featureBasisToken(0);
        return basis < layout.featureDim() ? "<basis " + basis + ">" : "<level " + (basis - layout.featureDim()) + ">";
    }

    @Override
    public int vocabSize() {
        return layout.vocabSize();
    }

    /** Image ids are the codes; the text ids are the class tokens. */
    @Override
    public VocabularyPartition partition() {
        return new VocabularyPartition(layout.codes(), layout.codes() + layout.classCount(), 0, layout.codes());
    }

    /**
     * The image of the first {@code tokens.length} tokens: the mean image for none, a coarse image for a short
     * prefix, the full reconstruction for all N.
     */
    @Override
    public float[][] decodeImage(int[] tokens) {
        return PatchGrid.rows(vq.decode(tokens));
    }

    /** The N stage codes of a 28x28 image (greedy residual quantisation). */
    @Override
    public int[] encodeImage(float[][] pixels) {
        return vq.encode(PatchGrid.flatten(pixels, "this tokenizer"));
    }

    /** A 1D tokenizer has one "scale": there is no next-scale input (IllegalArgumentException). */
    @Override
    public float[][] scaleInput(int[] tokens, int scale) {
        throw new IllegalArgumentException("scale " + scale + " has no next-scale input: a coarse-to-fine 1D tokenizer"
                + " has one scale (use it with raster or group-parallel priors)");
    }

    private void checkId(int id) {
        if (id < 0 || id >= layout.vocabSize()) {
            throw ArborException.invalid("token id " + id + " outside the image vocabulary 0.."
                    + (layout.vocabSize() - 1));
        }
    }

    @Override
    public String toString() {
        return "CoarseToFineImageTokenizer[" + vq + ", " + layout + "]";
    }
}
