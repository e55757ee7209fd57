package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.image.Png;
import dev.arbor.api.tokenizer.Tokenizer;

/**
 * A PNG turned back into the codes an image pipeline would have generated for it: decoded with {@link Png#decode}
 * (colour converted to luminance) and re-tokenized with the pipeline's {@link ImageTokenizer#encodeImage}. What
 * {@code PipelineService.analyzeImage} feeds a watermark detector.
 */
final class PngTokens {
    /** Larger than any image a pipeline of this project makes; bounds the pixels a request can make us allocate. */
    static final int MAX_BYTES = 8 << 20;

    private PngTokens() {
    }

    /** A decoded image and its codes. */
    record Decoded(float[][] pixels, int[] tokens) {
    }

    /** The codes of {@code png} under {@code tokenizer}; INVALID_INPUT naming the cause otherwise. */
    static int[] encode(String pipeline, Tokenizer tokenizer, byte[] png) {
        return decode(pipeline, tokenizer, png).tokens();
    }

    /** The pixels of {@code png} and their codes under {@code tokenizer}; INVALID_INPUT naming the cause otherwise. */
    static Decoded decode(String pipeline, Tokenizer tokenizer, byte[] png) {
        if (!(tokenizer instanceof ImageTokenizer images)) {
            throw ArborException.invalid("pipeline '" + pipeline + "' does not tokenize images (its tokenizer is a "
                    + tokenizer.getClass().getSimpleName() + "): check text with it, or name an image pipeline");
        }
        if (png == null || png.length == 0) {
            throw ArborException.invalid("the image is empty: send the bytes of a PNG");
        }
        if (png.length > MAX_BYTES) {
            throw ArborException.invalid("the image has " + png.length + " bytes, more than the " + MAX_BYTES
                    + " accepted");
        }
        ImageLayout layout = images.layout();
        checkHeader(pipeline, png, layout);
        float[][] pixels;
        try {
            pixels = Png.decode(png);
        } catch (IllegalArgumentException e) {
            throw ArborException.invalid("the image is " + e.getMessage());
        }
        return new Decoded(pixels, images.encodeImage(pixels));
    }

    /**
     * Refuses, before decoding, a PNG whose header gives a size other than the layout's: a small file can declare an
     * enormous image, and decoding it would allocate that many pixels.
     */
    private static void checkHeader(String pipeline, byte[] png, ImageLayout layout) {
        // signature (8) + IHDR length (4) + "IHDR" (4) + width (4) + height (4)
        if (png.length < 24 || (png[0] & 0xff) != 0x89 || png[1] != 'P' || png[2] != 'N' || png[3] != 'G'
                || png[12] != 'I' || png[13] != 'H' || png[14] != 'D' || png[15] != 'R') {
            throw ArborException.invalid("the image is not a PNG (no PNG signature and header): send PNG bytes");
        }
        long width = readInt(png, 16);
        long height = readInt(png, 20);
        if (width != layout.width() || height != layout.height()) {
            throw ArborException.invalid("the image is " + width + "x" + height + " pixels; pipeline '" + pipeline
                    + "' makes and reads " + layout.width() + "x" + layout.height() + " images");
        }
    }

    private static long readInt(byte[] b, int at) {
        return ((long) (b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8)
                | (b[at + 3] & 0xff);
    }
}
