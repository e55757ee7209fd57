package dev.arbor.models.images;

import dev.arbor.api.ArborException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FashionMnistTest {

    @Test
    void readsBothSplitsWithTheirCountsLabelsAndPixelRange() {
        FashionMnist train = FashionMnist.load(FashionMnist.Split.TRAIN);
        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        assertThat(train.size()).isEqualTo(60_000);
        assertThat(test.size()).isEqualTo(10_000);
        // Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class.
        int[] perClass = new int[10];
        for (int y : train.labels()) perClass[y]++;
        assertThat(perClass).containsOnly(6_000);
        perClass = new int[10];
        for (int y : test.labels()) perClass[y]++;
        assertThat(perClass).containsOnly(1_000);
        // Known statistic: the mean training pixel is 72.94 / 255 = 0.2860 (the normalisation constant people use).
        double sum = 0;
        float min = 1, max = 0;
        for (float[] img : train.images()) {
            assertThat(img).hasSize(784);
            for (float v : img) {
                sum += v;
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
        }
        assertThat(sum / (60_000.0 * 784)).isBetween(0.2855, 0.2865);
        assertThat(min).isEqualTo(0f);
        assertThat(max).isEqualTo(1f);
        // The first training image is an ankle boot (label 9), the first test image too.
        assertThat(train.label(0)).isEqualTo(9);
        assertThat(test.label(0)).isEqualTo(9);
    }

    @Test
    void looksUpClassesByIndexOrName() {
        assertThat(FashionMnist.classIndex("sneaker")).isEqualTo(7);
        assertThat(FashionMnist.classIndex("Ankle boot")).isEqualTo(9);
        assertThat(FashionMnist.classIndex("ankle-boot")).isEqualTo(9);
        assertThat(FashionMnist.classIndex("t-shirt")).isEqualTo(0);
        assertThat(FashionMnist.classIndex("T-shirt/top")).isEqualTo(0);
        assertThat(FashionMnist.classIndex("3")).isEqualTo(3);
        assertThat(FashionMnist.className(8)).isEqualTo("Bag");
        assertThatThrownBy(() -> FashionMnist.classIndex("hat")).isInstanceOf(ArborException.class)
                .hasMessageContaining("unknown Fashion-MNIST class 'hat'").hasMessageContaining("Sneaker");
        assertThatThrownBy(() -> FashionMnist.classIndex("10")).hasMessageContaining("not 0-9");
    }

    @Test
    void missingFilesNameTheDebianPackage(@TempDir Path dir) {
        assertThatThrownBy(() -> FashionMnist.load(dir, FashionMnist.Split.TEST))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("install Debian package dataset-fashion-mnist")
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.NOT_FOUND));
    }

    @Test
    void refusesWrongMagicAndTruncatedFiles(@TempDir Path dir) throws IOException {
        Path labels = dir.resolve("labels.gz");
        try (DataOutputStream out = new DataOutputStream(new GZIPOutputStream(Files.newOutputStream(labels)))) {
            out.writeInt(0x801);
            out.writeInt(5);
            out.write(new byte[] {1, 2, 3}); // 3 of 5
        }
        assertThatThrownBy(() -> FashionMnist.readLabels(labels)).hasMessageContaining("truncated");
        assertThatThrownBy(() -> FashionMnist.readImages(labels)).hasMessageContaining("not an IDX image file");
    }
}
