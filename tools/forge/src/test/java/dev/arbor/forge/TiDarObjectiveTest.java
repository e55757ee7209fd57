package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The TiDAR training layout: the mask the generator's inference blocks reproduce, targets, weights, the recipe. */
class TiDarObjectiveTest {

    @Test
    void cleanRowsAreCausalAndMaskBlocksSeeTheCleanPrefixBeforeThemAndThemselves() {
        int l = 12;
        for (int bs = 1; bs <= 6; bs++) {
            if (l % bs != 0) {
                continue;
            }
            for (int q = 0; q < 2 * l; q++) {
                for (int k = 0; k < 2 * l; k++) {
                    boolean expected;
                    if (q < l) {
                        expected = k <= q;                       // causal over the clean half, never a MASK
                    } else {
                        int start = (q - l) / bs * bs;           // the block's first position
                        expected = k < l ? k < start : (k - l) / bs == (q - l) / bs;
                    }
                    assertThat(TiDarObjective.visible(q, k, l, bs)).as("q %d k %d block %d", q, k, bs)
                            .isEqualTo(expected);
                }
            }
        }
    }

    @Test
    void bothHalvesPredictTheNextPositionAndTheLastMaskRowIsNotScored() {
        int[][] windows = {{5, 6, 7, 8, 9, 10, 11, 12, 13}};
        TiDarObjective o = new TiDarObjective(BpeTrainer.MASK_ID, 4);
        TrainingObjective.Batch b = o.batch(windows, new SplittableRandom(1));
        int l = 8;
        assertThat(b.scored()).isEqualTo(2 * l);
        for (int j = 0; j < l; j++) {
            assertThat(b.tokens()[0][j]).isEqualTo(windows[0][j]);
            assertThat(b.tokens()[0][l + j]).isEqualTo(BpeTrainer.MASK_ID);
            assertThat(b.positions()[0][j]).isEqualTo(j);
            assertThat(b.positions()[0][l + j]).isEqualTo(j);
            assertThat(b.targets()[0][j]).isEqualTo(windows[0][j + 1]);
            assertThat(b.targets()[0][l + j]).isEqualTo(windows[0][j + 1]);
            assertThat(b.weights()[0][j]).isEqualTo(1f / l);
            assertThat(b.weights()[0][l + j]).isEqualTo(j + 1 < l ? 1f / (l - 1) : 0f);
        }
        TrainingObjective.Batch ar = o.scoring(TiDarObjective.Part.AUTOREGRESSIVE).batch(windows, null);
        TrainingObjective.Batch draft = o.scoring(TiDarObjective.Part.DRAFT).batch(windows, null);
        for (int j = 0; j < l; j++) {
            assertThat(ar.weights()[0][l + j]).isZero();
            assertThat(draft.weights()[0][j]).isZero();
        }
    }

    @Test
    void recipeSharesTheCorpusAndNamesABadBlockSize(@TempDir Path dir) throws Exception {
        Recipe r = Recipe.read(Path.of("recipes", "tidar.json"));
        Recipe ar = Recipe.read(Path.of("recipes", "default-ar.json"));
        assertThat(r.corpus()).isEqualTo(ar.corpus());
        assertThat(r.tokenizer()).isEqualTo(ar.tokenizer());
        assertThat(r.model().dim()).isLessThanOrEqualTo(128);
        assertThat(r.model().nLayers()).isLessThanOrEqualTo(4);
        assertThat(TrainingObjective.of(r.objective(), BpeTrainer.MASK_ID)).isInstanceOf(TiDarObjective.class);
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, Files.readString(Path.of("recipes", "tidar.json"))
                .replace("\"block_size\": 4", "\"block_size\": 0"));
        assertThatThrownBy(() -> Recipe.read(bad)).isInstanceOf(ArborException.class)
                .hasMessageContaining("tidar").hasMessageContaining("block_size");
    }
}
