package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which tokens of an image generator's canvas the runtime decodes: the leading codes, up to the first placeholder. */
class ImageCanvasTest {
    static final ImageLayout LAYOUT = new ImageLayout(28, 28, 8, List.of("a", "b"), new int[] {1, 2}, 4);

    /** Records the prefixes it is asked to decode. */
    static final class RecordingTokenizer implements ImageTokenizer {
        final List<int[]> decoded = new ArrayList<>();

        @Override
        public ImageLayout layout() {
            return LAYOUT;
        }

        @Override
        public float[][] decodeImage(int[] tokens) {
            decoded.add(tokens);
            return new float[28][28];
        }

        @Override
        public int[] encodeImage(float[][] pixels) {
            throw new UnsupportedOperationException();
        }

        @Override
        public float[][] scaleInput(int[] tokens, int scale) {
            throw new UnsupportedOperationException();
        }

        @Override
        public int[] encode(String text, boolean addSpecialTokens) {
            throw new UnsupportedOperationException();
        }

        @Override
        public String decode(int[] ids) {
            return "";
        }

        @Override
        public int vocabSize() {
            return LAYOUT.vocabSize();
        }
    }

    @Test
    void decodesTheLeadingCodesUpToTheMaskOrAnyNonCode() {
        RecordingTokenizer t = new RecordingTokenizer();
        int mask = LAYOUT.vocabSize(); // outside the layout
        PipelineServiceImpl.imageCanvas(t, new int[] {3, 4, 5, mask, mask}, mask);
        PipelineServiceImpl.imageCanvas(t, new int[] {3, 9, 5, 1, 1}, mask); // 9 is a class token, not a code
        PipelineServiceImpl.imageCanvas(t, new int[] {2, 2, 2, 2, 2}, 2); // a code used as the mask id
        PipelineServiceImpl.imageCanvas(t, new int[] {1, 2, 3, 4, 5, 6, 7}, mask); // longer than an image
        assertThat(t.decoded.stream().map(Arrays::toString)).containsExactly("[3, 4, 5]", "[3]", "[]",
                "[1, 2, 3, 4, 5]");
    }
}
