package dev.arbor.models.images;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.image.Png;
import dev.arbor.api.tokenizer.VocabularyPartition;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The image-vq tokenizer over the committed Fashion VQ files: layout, class prompts, image round trips. */
class VqImageTokenizerTest {
    static final Path DIR = Path.of("../trained/fashion-vq");
    static VqImageTokenizer patch;
    static VqImageTokenizer msvq;

    @BeforeAll
    static void open() {
        ImageVqTokenizerProvider provider = new ImageVqTokenizerProvider();
        patch = (VqImageTokenizer) provider.open(DIR.resolve(TrainFashionTokenizers.PATCH_FILE), Options.empty());
        msvq = (VqImageTokenizer) provider.open(DIR.resolve(TrainFashionTokenizers.MSVQ_FILE), Options.empty());
    }

    @Test
    void layoutsMatchThePriors() {
        ImageLayout p = patch.layout();
        assertThat(p.scales()).containsExactly(7);
        assertThat(p.codes()).isEqualTo(512);
        assertThat(p.featureDim()).isEqualTo(16);
        assertThat(p.tokensPerImage()).isEqualTo(49);
        assertThat(p.vocabSize()).isEqualTo(540); // the raster prior's vocabulary
        assertThat(patch.vocabSize()).isEqualTo(540);
        ImageLayout m = msvq.layout();
        assertThat(m.scales()).containsExactly(1, 2, 3, 4, 5, 7);
        assertThat(m.tokensPerImage()).isEqualTo(104);
        assertThat(m.vocabSize()).isEqualTo(545); // the VAR prior's vocabulary
        assertThat(m.classNames()).containsExactly("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal",
                "shirt", "sneaker", "bag", "ankle boot");
    }

    @Test
    void classPromptsRoundTrip() {
        for (int k = 0; k < 10; k++) {
            String name = patch.layout().classNames().get(k);
            int[] ids = patch.encode(name, true);
            assertThat(ids).containsExactly(512 + k);
            assertThat(patch.encode(Integer.toString(k), false)).containsExactly(512 + k);
            assertThat(patch.decode(ids)).isEqualTo(name);
        }
        assertThat(msvq.encode("  Sneaker ", true)).containsExactly(512 + 7);
        assertThat(msvq.encode("ankle boot", true)).containsExactly(512 + 9);
    }

    @Test
    void unknownClassIsInvalidInputListingTheClasses() {
        assertThatThrownBy(() -> patch.encode("giraffe", true)).isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining("giraffe").hasMessageContaining("sneaker").hasMessageContaining("0-9");
        assertThatThrownBy(() -> patch.encode("10", true)).isInstanceOf(ArborException.class);
    }

    @Test
    void codesRenderAsNothingAndThePartitionSeparatesThem() {
        assertThat(patch.decode(new int[] {0, 17, 511})).isEmpty();
        assertThat(patch.decode(new int[] {512 + 7, 3, 512 + 8})).isEqualTo("sneaker bag");
        assertThat(patch.decode(new int[] {patch.layout().nullClassToken(), patch.layout().levelToken(0)})).isEmpty();
        assertThat(patch.tokenText(17)).isEqualTo("<code 17>");
        assertThat(msvq.tokenText(msvq.layout().featureBasisToken(3))).isEqualTo("<basis 3>");
        assertThat(msvq.tokenText(msvq.layout().levelToken(5))).isEqualTo("<level 5>");
        VocabularyPartition part = msvq.partition();
        assertThat(part.isImage(0)).isTrue();
        assertThat(part.isImage(511)).isTrue();
        assertThat(part.isImage(512)).isFalse();
        assertThat(part.isText(512 + 9)).isTrue();
        assertThatThrownBy(() -> patch.decode(new int[] {540})).isInstanceOf(ArborException.class)
                .hasMessageContaining("540");
    }

    @Test
    void rasterTokenizerIsExactlyThePatchVq() {
        PatchVqTokenizer reference = PatchVqTokenizer.read(DIR.resolve(TrainFashionTokenizers.PATCH_FILE));
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < 20; i++) {
            float[] flat = new float[784];
            for (int p = 0; p < flat.length; p++) flat[p] = (float) rnd.nextDouble();
            int[] tokens = patch.encodeImage(square(flat));
            assertThat(tokens).containsExactly(reference.encode(flat));
            assertThat(flatten(patch.decodeImage(tokens))).containsExactly(reference.decode(tokens));
        }
    }

    @Test
    void multiScaleTokenizerIsExactlyTheMultiScaleVq() {
        MultiScaleVq reference = MultiScaleVq.read(DIR.resolve(TrainFashionTokenizers.MSVQ_FILE));
        float[] flat = smoothImage(11);
        int[] tokens = msvq.encodeImage(square(flat));
        assertThat(tokens).containsExactly(reference.encode(flat));
        assertThat(flatten(msvq.decodeImage(tokens))).containsExactly(reference.decode(tokens));
        for (int k = 1; k < 6; k++) {
            float[][] input = msvq.scaleInput(tokens, k);
            int side = msvq.layout().side(k);
            assertThat(input).hasNumberOfRows(side * side);
            float[] expected = reference.nextScaleInput(tokens, k);
            for (int cell = 0; cell < side * side; cell++) {
                assertThat(input[cell]).containsExactly(Arrays.copyOfRange(expected, cell * 16, cell * 16 + 16));
            }
        }
    }

    @Test
    void decodedImagesReencodeToTheSameTokensThroughPng() {
        // a decoded image is the codes pasted back: re-encoding it (through an 8-bit PNG) finds the same codes
        // wherever codes are not near-ties, so nearly all tokens survive
        for (ImageTokenizer t : List.of(patch, msvq)) {
            int[] tokens = t.encodeImage(square(smoothImage(3)));
            float[][] back = Png.decode(Png.encode(t.decodeImage(tokens)));
            assertThat(back).hasNumberOfRows(28);
            assertThat(back[0]).hasSize(28);
            int[] again = t.encodeImage(back);
            int same = 0;
            for (int i = 0; i < tokens.length; i++) same += tokens[i] == again[i] ? 1 : 0;
            assertThat(same).as("tokens kept by %s", t).isGreaterThanOrEqualTo(tokens.length * 8 / 10);
        }
    }

    @Test
    void rasterPrefixShowsThePatchesSoFarAndBlackElsewhere() {
        int[] tokens = patch.encodeImage(square(smoothImage(5)));
        float[][] full = patch.decodeImage(tokens);
        float[][] part = patch.decodeImage(Arrays.copyOf(tokens, 10)); // row 0 (7 patches) and 3 of row 1
        for (int y = 0; y < 28; y++) {
            for (int x = 0; x < 28; x++) {
                int cell = (y / 4) * 7 + x / 4;
                assertThat(part[y][x]).isEqualTo(cell < 10 ? full[y][x] : 0f);
            }
        }
        assertThat(patch.decodeImage(new int[0])[27][27]).isZero();
    }

    @Test
    void nextScalePrefixShowsTheCompleteScalesSoFar() {
        MultiScaleVq reference = MultiScaleVq.read(DIR.resolve(TrainFashionTokenizers.MSVQ_FILE));
        int[] tokens = msvq.encodeImage(square(smoothImage(9)));
        ImageLayout l = msvq.layout();
        for (int k = 0; k <= l.scaleCount(); k++) {
            float[] expected = PatchGrid.toImage(reference.accumulate(tokens, k));
            int[] prefix = Arrays.copyOf(tokens, l.scaleStart(k));
            assertThat(flatten(msvq.decodeImage(prefix))).containsExactly(expected);
            if (k < l.scaleCount() && l.side(k) > 1) {
                // a scale in progress is not shown yet
                int[] partial = Arrays.copyOf(tokens, l.scaleStart(k) + 1);
                assertThat(flatten(msvq.decodeImage(partial))).containsExactly(expected);
            }
        }
    }

    @Test
    void badImageTokensAndScalesAreRefused() {
        assertThatThrownBy(() -> patch.decodeImage(new int[] {512})).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not an image code");
        assertThatThrownBy(() -> patch.decodeImage(new int[50])).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("49");
        assertThatThrownBy(() -> patch.scaleInput(new int[49], 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("raster");
        assertThatThrownBy(() -> msvq.scaleInput(new int[3], 2)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("5 tokens");
        assertThatThrownBy(() -> msvq.encodeImage(new float[27][28])).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void providerRefusesMissingAndForeignFilesNamingThem(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        ImageVqTokenizerProvider provider = new ImageVqTokenizerProvider();
        Path missing = tmp.resolve("nope.bin");
        assertThatThrownBy(() -> provider.open(missing, Options.empty())).isInstanceOf(ArborException.class)
                .hasMessageContaining("nope.bin");
        Path text = Files.writeString(tmp.resolve("tokenizer.bin"), "not a codebook");
        assertThatThrownBy(() -> provider.open(text, Options.empty())).isInstanceOf(ArborException.class)
                .hasMessageContaining("tokenizer.bin");
        assertThatThrownBy(() -> provider.open(DIR.resolve(TrainFashionTokenizers.PATCH_FILE),
                Options.of(java.util.Map.of("classes", List.of("a", "a"))))).isInstanceOf(ArborException.class)
                .hasMessageContaining("classes");
        VqImageTokenizer custom = (VqImageTokenizer) provider.open(DIR.resolve(TrainFashionTokenizers.PATCH_FILE),
                Options.of(java.util.Map.of("classes", List.of("Cat", "dog"))));
        assertThat(custom.layout().classNames()).containsExactly("cat", "dog");
        assertThat(custom.vocabSize()).isEqualTo(512 + 2 + 1 + 16 + 1);
    }

    /** A smooth synthetic garment-like image (a blob whose centre depends on {@code seed}). */
    static float[] smoothImage(int seed) {
        float[] img = new float[784];
        double cx = 10 + seed % 8, cy = 12 + seed % 5;
        for (int y = 0; y < 28; y++) {
            for (int x = 0; x < 28; x++) {
                double d = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / 60.0;
                img[y * 28 + x] = (float) Math.exp(-d);
            }
        }
        return img;
    }

    static float[][] square(float[] flat) {
        float[][] out = new float[28][];
        for (int y = 0; y < 28; y++) out[y] = Arrays.copyOfRange(flat, y * 28, y * 28 + 28);
        return out;
    }

    static float[] flatten(float[][] pixels) {
        float[] out = new float[784];
        for (int y = 0; y < 28; y++) System.arraycopy(pixels[y], 0, out, y * 28, 28);
        return out;
    }
}
