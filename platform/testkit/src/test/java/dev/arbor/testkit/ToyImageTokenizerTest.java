package dev.arbor.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.image.ImageLayout;
import org.junit.jupiter.api.Test;

class ToyImageTokenizerTest {
    private static final ImageLayout LAYOUT = ToyImageTokenizer.layout(6, 8, 3, 2, 1, 2, 3);
    private final ToyImageTokenizer tokenizer = new ToyImageTokenizer(LAYOUT, 4);

    @Test
    void classPromptsAreOneClassToken() {
        assertThat(tokenizer.encode("c2", true)).containsExactly(LAYOUT.classToken(2));
        assertThat(tokenizer.encode("1", true)).containsExactly(LAYOUT.classToken(1));
        assertThat(tokenizer.decode(new int[] {3, LAYOUT.classToken(0)})).isEqualTo("c0");
        assertThatThrownBy(() -> tokenizer.encode("sneaker", true)).hasMessageContaining("c0, c1, c2");
    }

    @Test
    void scaleInputIsTheAccumulatedCodebookVectorsOfEarlierScalesAveragedDown() {
        int[] tokens = {5, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        float[][] s1 = tokenizer.scaleInput(tokens, 1);
        assertThat(s1).hasNumberOfRows(4);
        for (float[] cell : s1) {
            assertThat(cell).containsExactly(tokenizer.codeVector(5));
        }
        // scale 2 (3x3) from scales 0 and 1 on the 3x3 finest grid: cell (y, x) = code 5 + code of its 2x2 parent
        float[][] s2 = tokenizer.scaleInput(tokens, 2);
        int[] parent = {1, 1, 2, 1, 1, 2, 3, 3, 4};
        for (int c = 0; c < 9; c++) {
            for (int j = 0; j < 2; j++) {
                assertThat(s2[c][j]).isEqualTo(tokenizer.codeVector(5)[j] + tokenizer.codeVector(parent[c])[j]);
            }
        }
    }

    @Test
    void encodedImagesDecodeAndPrefixesRender() {
        float[][] pixels = new float[6][6];
        for (int y = 0; y < 6; y++) {
            for (int x = 0; x < 6; x++) {
                pixels[y][x] = (x + y) / 10f;
            }
        }
        int[] tokens = tokenizer.encodeImage(pixels);
        assertThat(tokens).hasSize(LAYOUT.tokensPerImage());
        assertThat(tokenizer.encodeImage(tokenizer.decodeImage(tokens))).hasSize(14);
        assertThat(tokenizer.decodeImage(java.util.Arrays.copyOf(tokens, 5))).hasDimensions(6, 6);
        assertThatThrownBy(() -> tokenizer.decodeImage(new int[] {LAYOUT.classToken(0)}))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
