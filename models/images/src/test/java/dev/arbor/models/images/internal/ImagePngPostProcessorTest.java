package dev.arbor.models.images.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.image.Png;
import dev.arbor.api.postprocess.PostProcessor.Output;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.models.images.VqImageTokenizer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ImagePngPostProcessorTest {
    static VqImageTokenizer patch;
    static VqImageTokenizer msvq;
    final ImagePngPostProcessor png = new ImagePngPostProcessor();

    @BeforeAll
    static void open() {
        Path dir = Path.of("../trained/fashion-vq");
        patch = VqImageTokenizer.read(dir.resolve("fashion-patch-vq.bin"), VqImageTokenizer.FASHION_CLASSES);
        msvq = VqImageTokenizer.read(dir.resolve("fashion-msvq.bin"), VqImageTokenizer.FASHION_CLASSES);
    }

    @Test
    void addsThePngOfTheDecodedImageAndKeepsTokensAndText() {
        for (VqImageTokenizer t : new VqImageTokenizer[] {patch, msvq}) {
            int[] tokens = new int[t.layout().tokensPerImage()];
            for (int i = 0; i < tokens.length; i++) tokens[i] = (i * 37) % 512;
            Output out = png.process(new Output(tokens, "", Map.of("earlier", 1)), t, Options.empty());
            assertThat(out.tokens()).isSameAs(tokens);
            assertThat(out.text()).isEmpty();
            assertThat(out.annotations()).containsEntry("earlier", 1).containsEntry("image_complete", true);
            float[][] decoded = Png.decode((byte[]) out.annotations().get("image"));
            float[][] expected = t.decodeImage(tokens);
            assertThat(decoded).hasNumberOfRows(28);
            for (int y = 0; y < 28; y++) {
                assertThat(decoded[y]).hasSize(28);
                for (int x = 0; x < 28; x++) {
                    // 8-bit quantization: within half a level
                    assertThat(Math.abs(decoded[y][x] - expected[y][x])).isLessThanOrEqualTo(0.5f / 255f + 1e-6f);
                }
            }
        }
    }

    @Test
    void aCutOffOutputGivesThePrefixImageMarkedIncomplete() {
        int[] tokens = new int[20];
        Arrays.fill(tokens, 5);
        Output out = png.process(new Output(tokens, "", Map.of()), patch, Options.empty());
        assertThat(out.annotations()).containsEntry("image_complete", false);
        float[][] decoded = Png.decode((byte[]) out.annotations().get("image"));
        assertThat(decoded[27][27]).isZero(); // patches not generated are black
    }

    @Test
    void refusesTextTokenizersAndNonCodeTokensClearly() {
        Tokenizer text = new Tokenizer() {
            @Override
            public int[] encode(String s, boolean special) {
                return new int[0];
            }

            @Override
            public String decode(int[] ids) {
                return "";
            }

            @Override
            public int vocabSize() {
                return 10;
            }
        };
        assertThatThrownBy(() -> png.process(new Output(new int[] {1}, "x", Map.of()), text, Options.empty()))
                .isInstanceOf(ArborException.class).hasMessageContaining("image-png")
                .hasMessageContaining("image tokenizer").hasMessageContaining("image-vq");
        assertThatThrownBy(() -> png.process(new Output(new int[] {1, 512 + 3}, "", Map.of()), patch,
                Options.empty())).isInstanceOf(ArborException.class).hasMessageContaining("515")
                .hasMessageContaining("not an image code");
        assertThatThrownBy(() -> png.process(new Output(new int[50], "", Map.of()), patch, Options.empty()))
                .isInstanceOf(ArborException.class).hasMessageContaining("49");
    }
}
