package dev.arbor.api.image;

import org.osgi.annotation.versioning.ConsumerType;

/**
 * A continuous image tokenizer (patch PCA, autoencoder latents): an image is {@link #latentTokens()} latent vectors
 * of {@link #latentDim()} values each, in raster order of a {@link #gridSide()}² grid, for priors with a continuous
 * head ({@code dev.arbor.api.model.ContinuousHead}: xAR, MAR/CSpD).
 *
 * <p>So that continuous images travel the token pipeline unchanged (canvases, the PNG post-processor, streaming),
 * a latent image's wire form is one id per latent value, token after token: an 8-bit fixed-point value in
 * {@code [-valueRange, valueRange]} (id 0 = -range, id {@code codes - 1} = +range). The {@link #layout()} says so:
 * {@code codes} = the value levels, one scale of side {@code √(latentTokens·latentDim)} (the wire ids of a whole
 * image), {@code featureDim} = {@link #latentDim()}; {@code decodeImage} takes wire ids. Generators keep full
 * precision internally and quantise once, when they emit. Thread-safe and immutable once opened.
 */
@ConsumerType
public interface LatentImageCodec extends ImageTokenizer {

    /** Values per latent token (D). */
    int latentDim();

    /** Latent tokens of one image. */
    int latentTokens();

    /** Side of the latent token grid ({@code gridSide()² == latentTokens()}). */
    int gridSide();

    /** The wire form's range: values are clamped to {@code [-valueRange(), valueRange()]}. */
    float valueRange();

    /** The latents of an image of {@code [height][width]} gray pixels in [0,1]: [latentTokens][latentDim]. */
    float[][] encodeLatents(float[][] pixels);

    /**
     * Gray pixels in [0,1], [height][width], of the first {@code latents.length} latent tokens in raster order (a
     * partial image renders the rest black). Fails with an {@code IllegalArgumentException} on too many tokens or a
     * token of the wrong width.
     */
    float[][] decodeLatents(float[][] latents);

    /** The wire ids of latent tokens: {@code latents.length·latentDim()} ids, token after token. */
    int[] toIds(float[][] latents);

    /** The latent tokens of wire ids (a whole number of tokens). */
    float[][] fromIds(int[] ids);
}
