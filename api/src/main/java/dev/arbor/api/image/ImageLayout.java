package dev.arbor.api.image;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;

/**
 * The vocabulary layout of a class-conditional image prior and its tokenizer. Ids, in order:
 * <ol>
 *   <li>{@code 0 .. codes-1}: codebook entries (the only ids a generator may emit);</li>
 *   <li>{@code codes .. codes+classes-1}: class tokens (the prompt: one token);</li>
 *   <li>{@code codes+classes}: the null class (the unconditional row of classifier-free guidance);</li>
 *   <li>{@code featureDim} feature-basis ids: a next-scale prior's input for a cell with feature vector f is
 *       {@code E[level(k)] + Σ_j f_j·E[basis(j)]} (E = the prior's input-embedding rows), i.e. VAR's
 *       {@code word_embed(f) + level embedding} expressed in the prior's own embedding table;</li>
 *   <li>one level id per scale.</li>
 * </ol>
 * Token order of an image: scale by scale (a raster tokenizer has one scale), each scale in raster order, so an
 * image has {@code Σ scales[k]²} tokens.
 *
 * @param width      image width in pixels
 * @param height     image height in pixels
 * @param codes      codebook size K
 * @param classNames class names, index = class (lower case, e.g. {@code sneaker})
 * @param scales     side of each scale's token map, strictly increasing; one entry for raster tokenizers
 * @param featureDim width of a token map cell's feature vector (the codebook vectors' width)
 */
public record ImageLayout(int width, int height, int codes, List<String> classNames, int[] scales, int featureDim) {

    public ImageLayout {
        Objects.requireNonNull(classNames, "classNames");
        Objects.requireNonNull(scales, "scales");
        if (width <= 0 || height <= 0 || codes <= 0 || featureDim <= 0 || classNames.isEmpty() || scales.length == 0) {
            throw new IllegalArgumentException("image layout needs positive width, height, codes, featureDim and "
                    + "at least one class and one scale");
        }
        for (int k = 0; k < scales.length; k++) {
            if (scales[k] <= 0 || (k > 0 && scales[k] <= scales[k - 1])) {
                throw new IllegalArgumentException("scales must be positive and strictly increasing: "
                        + Arrays.toString(scales));
            }
        }
        classNames = List.copyOf(classNames);
        scales = scales.clone();
    }

    @Override
    public int[] scales() {
        return scales.clone();
    }

    public int scaleCount() {
        return scales.length;
    }

    /** Side of scale {@code k}'s token map. */
    public int side(int k) {
        return scales[k];
    }

    /** Tokens of one image: {@code Σ scales[k]²}. */
    public int tokensPerImage() {
        return scaleStart(scales.length);
    }

    /** Index of the first token of scale {@code k} ({@code k = scaleCount()} gives the total). */
    public int scaleStart(int k) {
        int start = 0;
        for (int i = 0; i < k; i++) {
            start += scales[i] * scales[i];
        }
        return start;
    }

    /** The scale that token position {@code p} (0-based within the image) belongs to. */
    public int scaleOf(int p) {
        if (p < 0 || p >= tokensPerImage()) {
            throw new IndexOutOfBoundsException("position " + p + " outside 0.." + (tokensPerImage() - 1));
        }
        int k = 0;
        int end = scales[0] * scales[0];
        while (p >= end) {
            k++;
            end += scales[k] * scales[k];
        }
        return k;
    }

    public int classCount() {
        return classNames.size();
    }

    /** The prompt token of class {@code k}. */
    public int classToken(int k) {
        if (k < 0 || k >= classNames.size()) {
            throw new IndexOutOfBoundsException("class " + k + " outside 0.." + (classNames.size() - 1));
        }
        return codes + k;
    }

    /** The unconditional (null class) token. */
    public int nullClassToken() {
        return codes + classNames.size();
    }

    /** The feature-basis id of feature dimension {@code j}. */
    public int featureBasisToken(int j) {
        return nullClassToken() + 1 + Objects.checkIndex(j, featureDim);
    }

    /** The level id of scale {@code k}. */
    public int levelToken(int k) {
        return nullClassToken() + 1 + featureDim + Objects.checkIndex(k, scales.length);
    }

    /** Ids in the layout; a prior's vocabulary must have at least this many. */
    public int vocabSize() {
        return nullClassToken() + 1 + featureDim + scales.length;
    }

    public boolean isCode(int id) {
        return id >= 0 && id < codes;
    }

    /** The class index of a class token, or -1. */
    public int classOf(int id) {
        return id >= codes && id < codes + classNames.size() ? id - codes : -1;
    }

    /**
     * The class named by {@code nameOrIndex}: an index {@code 0..classes-1} or a class name (case and surrounding
     * blanks ignored); an {@link IllegalArgumentException} listing the classes otherwise.
     */
    public int parseClass(String nameOrIndex) {
        String s = nameOrIndex == null ? "" : nameOrIndex.strip().toLowerCase(Locale.ROOT);
        if (!s.isEmpty() && s.chars().allMatch(Character::isDigit) && s.length() < 4) {
            int k = Integer.parseInt(s);
            if (k < classNames.size()) {
                return k;
            }
        }
        int k = classNames.indexOf(s);
        if (k < 0) {
            throw new IllegalArgumentException("unknown class '" + (nameOrIndex == null ? "" : nameOrIndex.strip())
                    + "': give an index 0-" + (classNames.size() - 1) + " or one of " + String.join(", ", classNames));
        }
        return k;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ImageLayout l && l.width == width && l.height == height && l.codes == codes
                && l.classNames.equals(classNames) && Arrays.equals(l.scales, scales) && l.featureDim == featureDim;
    }

    @Override
    public int hashCode() {
        return Objects.hash(width, height, codes, classNames, Arrays.hashCode(scales), featureDim);
    }

    @Override
    public String toString() {
        return "ImageLayout[" + width + "x" + height + ", codes=" + codes + ", classes=" + classNames.size()
                + ", scales=" + Arrays.toString(scales) + ", featureDim=" + featureDim + "]";
    }
}
