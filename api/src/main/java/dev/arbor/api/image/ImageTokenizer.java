package dev.arbor.api.image;

import dev.arbor.api.tokenizer.Tokenizer;
import java.util.Optional;
import org.osgi.annotation.versioning.ConsumerType;

/**
 * A tokenizer of images (VQ, multi-scale residual VQ). As a {@link Tokenizer}, {@code encode} turns a class prompt
 * (a name or an index) into its one class token and {@code decode} renders ids as text (class names; image tokens
 * render as nothing). Thread-safe and immutable once opened.
 */
@ConsumerType
public interface ImageTokenizer extends Tokenizer {

    /** The vocabulary layout shared with the priors this tokenizer serves. */
    ImageLayout layout();

    /**
     * Gray pixels in [0,1], [height][width], of the first {@code tokens.length} tokens of an image in generation
     * order: a whole image, or a partial one (next-scale: the scales so far accumulated; raster: the patches so
     * far, the rest black). Fails with an {@code IllegalArgumentException} on a non-code id or too many tokens.
     */
    float[][] decodeImage(int[] tokens);

    /** The {@link ImageLayout#tokensPerImage()} codes of an image of {@code [height][width]} gray pixels in [0,1]. */
    int[] encodeImage(float[][] pixels);

    /**
     * A next-scale prior's input features for scale {@code scale >= 1}: the feature map accumulated from the tokens
     * of scales {@code 0..scale-1} (the first {@code layout().scaleStart(scale)} of {@code tokens}), resampled to
     * scale {@code scale}'s side; [side²][featureDim] in raster order (VAR's {@code get_next_autoregressive_input}).
     */
    float[][] scaleInput(int[] tokens, int scale);

    /**
     * The code vectors {@code [codes][featureDim]} the image codes stand for (a VQ codebook: row k is code k's
     * vector), a fresh copy; empty when the tokenizer has none. What a noise-to-code flow map integrates over
     * (Distilled Decoding's teacher, {@code arbor.part=flow-map}).
     *
     * @since 1.2.0
     */
    default Optional<float[][]> codeVectors() {
        return Optional.empty();
    }
}
