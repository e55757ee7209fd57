package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cModelCard;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The group-parallel objective's sequence, mask and targets; a tiny training run of the fashion-nbp recipe that
 * exports a BLOCK_CAUSAL card whose export check runs through Segments; and the committed fashion-nbp.
 */
class GroupParallelImageObjectiveTest {
    static final Path TRAINED = Path.of("..", "..", "models", "trained"); // surefire runs in tools/forge

    @TempDir
    static Path work;

    static final ImageLayout LAYOUT = ImagePriors.layout(512, new int[] {7}, 16); // 49 tokens, 540 ids

    static int[] window(int classIndex) {
        int[] w = new int[50];
        w[0] = LAYOUT.classToken(classIndex);
        for (int i = 1; i < w.length; i++) {
            w[i] = (i * 37) % 512;
        }
        return w;
    }

    @Test
    void oneTokenGroupsAreTheRasterObjective() {
        GroupParallelImageObjective g = new GroupParallelImageObjective(LAYOUT, 1, 1, 0.3);
        RasterImageObjective raster = new RasterImageObjective(LAYOUT, 0.3);
        int[][] windows = {window(3), window(8), window(0)};
        TrainingObjective.Batch a = g.batch(windows, new SplittableRandom(5));
        TrainingObjective.Batch b = raster.batch(windows, new SplittableRandom(5));
        assertThat(a.tokens()).isDeepEqualTo(b.tokens());
        assertThat(a.targets()).isDeepEqualTo(b.targets());
        assertThat(a.scored()).isEqualTo(b.scored());
        assertThat(g.vocabSize()).isEqualTo(LAYOUT.vocabSize());
        assertThat(g.segments()).containsExactly(IntStream.range(0, 49).toArray());
        assertThat(g.forwards()).isEqualTo(49);
    }

    @Test
    void rowGroupsAfterACausalRow() {
        GroupParallelImageObjective g = new GroupParallelImageObjective(LAYOUT, 7, 7, 0);
        assertThat(g.vocabSize()).isEqualTo(546);
        assertThat(g.forwards()).isEqualTo(13);
        int[] w = window(2);
        int[] image = java.util.Arrays.copyOfRange(w, 1, 50);
        int[] in = g.inputs(w[0], image);
        assertThat(in[0]).isEqualTo(LAYOUT.classToken(2));
        for (int p = 1; p <= 7; p++) {
            assertThat(in[p]).isEqualTo(image[p - 1]);
        }
        for (int j = 1; j < 7; j++) {
            assertThat(in[7 + j]).isEqualTo(540 + j - 1);
        }
        for (int p = 14; p < 49; p++) {
            assertThat(in[p]).isEqualTo(image[p - 7]);
        }
        int[] seg = g.segments();
        assertThat(java.util.Arrays.copyOf(seg, 8)).containsExactly(0, 1, 2, 3, 4, 5, 6, 7);
        assertThat(java.util.Arrays.copyOfRange(seg, 7, 14)).containsOnly(7);
        assertThat(java.util.Arrays.copyOfRange(seg, 42, 49)).containsOnly(12);
        assertThat(g.batch(new int[][] {w}, new SplittableRandom(1)).targets()[0]).containsExactly(image);
        int[][] steps = g.steps();
        assertThat(steps).hasNumberOfRows(13);
        assertThat(steps[0]).containsExactly(0, 1);
        assertThat(steps[6]).containsExactly(6, 7);
        assertThat(steps[7]).containsExactly(7, 14);
        assertThat(steps[12]).containsExactly(42, 49);
    }

    @Test
    void groupsThatDoNotTileTheImageAreRefusedWithTheRule() {
        assertThatThrownBy(() -> new GroupParallelImageObjective(LAYOUT, 7, 6, 0))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("(49 - causal_num) divisible by group_size")
                .hasMessageContaining("group_size 7, causal_num 6");
    }

    @Test
    void aTinyRunTrainsAndExportsABlockCausalCardCheckedThroughSegments() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        DjlSetup.configure(1);
        Recipe r = ImagePriorsTest.tiny("fashion-nbp.json");
        ImagePriors priors = new ImagePriors(work, TRAINED, 1, line -> { });
        Path runDir = priors.train(r, 0);
        JsonNode run = Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        assertThat(run.get("train_loss_last10_mean").asDouble())
                .isLessThan(run.get("train_loss_first").asDouble() - 0.5);
        Path out = priors.export(r, work.resolve("export-nbp"));
        checkPrior(out.resolve(r.name() + ".bin"), 1e-4);
    }

    @Test
    void theCommittedPriorLoadsWithItsCardAndItsExportCheckHolds() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        DjlSetup.configure(1);
        Path bin = TRAINED.resolve("fashion-nbp").resolve("fashion-nbp.bin");
        checkPrior(bin, 1e-4);
        JsonNode json = Json.MAPPER.readTree(Llama2cModelCard.sidecarOf(bin).toFile());
        assertThat(json.get("evaluation").get("heldout_images").asInt()).isEqualTo(10_000);
        assertThat(TRAINED.resolve("fashion-nbp").resolve("MODEL_CARD.md")).exists();
    }

    /** The card (NEXT, BLOCK_CAUSAL 7, vocabulary 546) and the export check rerun on the file. */
    static void checkPrior(Path bin, double tolerance) throws Exception {
        Recipe r = Recipe.read(Path.of("recipes", "fashion-nbp.json"));
        ImagePriors.Setup s = ImagePriors.setup(r, TRAINED);
        Llama2cConfig cfg = Llama2cCheckpoint.read(bin).config();
        assertThat(cfg.vocabSize()).isEqualTo(546);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(cfg, bin.toString());
        assertThat(card.alignment()).isEqualTo(LogitAlignment.NEXT);
        assertThat(card.attention()).isEqualTo(NativeAttention.BLOCK_CAUSAL);
        assertThat(card.blockSize()).isEqualTo(7);
        JsonNode json = Json.MAPPER.readTree(Llama2cModelCard.sidecarOf(bin).toFile());
        assertThat(json.get("image").get("group_size").asInt()).isEqualTo(7);
        assertThat(json.get("image").get("causal_num").asInt()).isEqualTo(7);
        assertThat(json.get("export_check").get("attention_spec").asText()).startsWith("Segments");
        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        ImageData probe = ImageData.encode(test.images(), test.labels(), 2, s.layout(), s.encoder());
        ImagePriors.Check check = ImagePriors.exportCheck(bin, s, new int[][] {probe.window(0, 50),
                probe.window(1, 50)});
        assertThat(check.maxAbsDiff()).isLessThan(tolerance);
        assertThat(check.attention()).startsWith("Segments");
    }
}
