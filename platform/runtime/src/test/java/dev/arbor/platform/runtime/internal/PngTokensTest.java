package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.image.Png;
import dev.arbor.api.tokenizer.Tokenizer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A PNG becomes the image tokenizer's codes of its pixels; everything else is refused with a usable message. */
class PngTokensTest {
    /** 4x2 pixels, one code per pixel: the pixel's level in 256ths (so a PNG round trip is exact). */
    static final ImageTokenizer PIXELS = new ImageTokenizer() {
        final ImageLayout layout = new ImageLayout(4, 2, 256, List.of("a", "b"), new int[] {1}, 1);

        public ImageLayout layout() {
            return layout;
        }

        public float[][] decodeImage(int[] tokens) {
            throw new UnsupportedOperationException();
        }

        public int[] encodeImage(float[][] pixels) {
            int[] codes = new int[8];
            for (int y = 0; y < 2; y++) {
                for (int x = 0; x < 4; x++) {
                    codes[y * 4 + x] = Math.round(pixels[y][x] * 255);
                }
            }
            return codes;
        }

        public float[][] scaleInput(int[] tokens, int scale) {
            throw new UnsupportedOperationException();
        }

        public int[] encode(String text, boolean special) {
            throw new UnsupportedOperationException();
        }

        public String decode(int[] ids) {
            return "";
        }

        public int vocabSize() {
            return layout.vocabSize();
        }
    };

    static final Tokenizer TEXT = new Tokenizer() {
        public int[] encode(String text, boolean special) {
            return new int[0];
        }

        public String decode(int[] ids) {
            return "";
        }

        public int vocabSize() {
            return 10;
        }
    };

    static float[][] image(int width, int height) {
        float[][] p = new float[height][width];
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                p[y][x] = (y * width + x) * 17 / 255f;
            }
        }
        return p;
    }

    @Test
    void aPngOfTheLayoutsSizeBecomesItsCodes() {
        assertThat(PngTokens.encode("img", PIXELS, Png.encode(image(4, 2)))).containsExactly(0, 17, 34, 51, 68, 85,
                102, 119);
    }

    @Test
    void refusesWhatIsNotAnImageOfThePipeline() {
        byte[] png = Png.encode(image(4, 2));
        assertThatThrownBy(() -> PngTokens.encode("text", TEXT, png)).isInstanceOf(ArborException.class)
                .hasMessageContaining("pipeline 'text' does not tokenize images");
        assertThatThrownBy(() -> PngTokens.encode("img", PIXELS, Png.encode(image(5, 2))))
                .isInstanceOf(ArborException.class).hasMessageContaining("5x2 pixels")
                .hasMessageContaining("4x2");
        assertThatThrownBy(() -> PngTokens.encode("img", PIXELS, "not an image at all, just text".getBytes()))
                .isInstanceOf(ArborException.class).hasMessageContaining("not a PNG");
        assertThatThrownBy(() -> PngTokens.encode("img", PIXELS, new byte[0]))
                .isInstanceOf(ArborException.class).hasMessageContaining("empty");
        byte[] truncated = java.util.Arrays.copyOf(png, 40);
        assertThatThrownBy(() -> PngTokens.encode("img", PIXELS, truncated))
                .isInstanceOf(ArborException.class).hasMessageContaining("PNG");
    }

    @Test
    void aHeaderDeclaringAHugeImageIsRefusedBeforeDecoding() {
        byte[] png = Png.encode(image(4, 2));
        png[16] = 0x7f; // width 2^30-ish: decoding would allocate gigabytes
        assertThatThrownBy(() -> PngTokens.encode("img", PIXELS, png)).isInstanceOf(ArborException.class)
                .hasMessageContaining("pixels; pipeline 'img' makes and reads 4x2 images");
    }
}
