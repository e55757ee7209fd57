package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cModelCard;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Token-Shuffle objective: its windows of a 7x7 map padded to 8x8, its inputs (class token, then merged windows
 * as slot embedding sums) and targets, and the recipe end to end on a tiny network (the loss falls, the export check
 * through input embeddings holds, the card has 4 output heads).
 */
class TokenShuffleObjectiveTest {
    static final Path TRAINED = Path.of("..", "..", "models", "trained"); // surefire runs in tools/forge

    static ImageLayout layout() {
        return ImagePriors.layout(512, new int[] {7}, 16);
    }

    @Test
    void windowsInputsAndTargetsOfAPaddedMap() {
        ImageLayout l = layout();
        int blank = 300;
        TokenShuffleObjective o = new TokenShuffleObjective(l, 2, blank, 0);
        assertThat(o.windowsPerImage()).isEqualTo(16);
        assertThat(o.vocabSize()).isEqualTo(4 * 540);
        int[] codes = new int[49];
        for (int i = 0; i < 49; i++) {
            codes[i] = i;
        }
        int[][] real = new int[16][4];
        int[][] g = o.shuffle(codes, real);
        assertThat(g[0]).containsExactly(0, 1, 7, 8);
        assertThat(g[1]).containsExactly(2, 3, 9, 10);
        assertThat(g[3]).containsExactly(6, blank, 13, blank);   // the right column is padding
        assertThat(real[3]).containsExactly(1, 0, 1, 0);
        assertThat(g[15]).containsExactly(48, blank, blank, blank);
        assertThat(real[15]).containsExactly(1, 0, 0, 0);
        assertThat(o.unshuffle(g)).containsExactly(codes);

        int[] row = new int[50];
        row[0] = l.classToken(4);
        System.arraycopy(codes, 0, row, 1, 49);
        TrainingObjective.Batch b = o.batch(new int[][] {row}, new SplittableRandom(1));
        assertThat(b.tokens()[0]).hasSize(1 + 15 * 4);
        assertThat(b.tokens()[0][0]).isEqualTo(l.classToken(4));
        assertThat(b.targets()[0]).hasSize(64);
        assertThat(b.normalizer()).isEqualTo(49.0);      // padding is not scored
        float[] w = o.inputWeights(b.tokens());
        int v = o.vocabSize();
        assertThat(w[l.classToken(4)]).isEqualTo(1f);
        // position 2 = window 1 (codes 2, 3, 9, 10) in slots 0..3
        for (int h = 0; h < 4; h++) {
            assertThat(w[2 * v + h * 540 + g[1][h]]).isEqualTo(1f);
        }
        double sum = 0;
        for (int i = 2 * v; i < 3 * v; i++) {
            sum += w[i];
        }
        assertThat(sum).isEqualTo(4.0);
    }

    @Test
    void trainsAndExportsAPriorWithFourHeadsThatTheReferenceModelReproduces(@TempDir Path work) throws Exception {
        assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        DjlSetup.configure(1);
        Recipe r = ImagePriorsTest.tiny("fashion-shuffle.json");
        ImagePriors priors = new ImagePriors(work, TRAINED, 1, line -> { });
        Path runDir = priors.train(r, 0);
        JsonNode run = Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        assertThat(run.get("train_loss_last10_mean").asDouble())
                .isLessThan(run.get("train_loss_first").asDouble() - 0.5);
        Path out = priors.export(r, work.resolve("export"), null, 10);
        Path bin = out.resolve(r.name() + ".bin");
        Llama2cConfig cfg = Llama2cCheckpoint.read(bin).config();
        assertThat(cfg.vocabSize()).isEqualTo(2160);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(cfg, bin.toString());
        assertThat(card.alignment()).isEqualTo(LogitAlignment.NEXT);
        assertThat(card.attention()).isEqualTo(NativeAttention.CAUSAL);
        assertThat(card.outputHeads()).isEqualTo(4);
        JsonNode sidecar = Json.MAPPER.readTree(out.resolve(r.name() + ".card.json").toFile());
        assertThat(sidecar.get("export_check").get("max_abs_logit_diff_reference").asDouble()).isLessThan(1e-4);
        assertThat(sidecar.get("export_check").get("positions").asInt()).isEqualTo(16);
        assertThat(sidecar.get("measurements").get("class_accuracy").get("samples").asInt()).isEqualTo(10);
        assertThat(Files.readString(out.resolve("MODEL_CARD.md"))).contains("Token-Shuffle", "4 output heads");
    }

    /** The committed fashion-shuffle: its card (4 heads, vocab 2160) and the export check rerun on the file. */
    @Test
    void theCommittedPriorLoadsWithFourHeadsAndTheExportCheckHolds() {
        assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        DjlSetup.configure(1);
        Recipe r = Recipe.read(Path.of("recipes", "fashion-shuffle.json"));
        ImagePriors.Setup s = ImagePriors.setup(r, TRAINED);
        Path bin = TRAINED.resolve("fashion-shuffle").resolve("fashion-shuffle.bin");
        Llama2cConfig cfg = Llama2cCheckpoint.read(bin).config();
        assertThat(cfg.vocabSize()).isEqualTo(2160);
        assertThat(cfg.seqLen()).isGreaterThanOrEqualTo(16);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(cfg, bin.toString());
        assertThat(card.outputHeads()).isEqualTo(4);
        assertThat(card.alignment()).isEqualTo(LogitAlignment.NEXT);
        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        ImageData probe = ImageData.encode(test.images(), test.labels(), 2, s.layout(), s.encoder());
        ImagePriors.Check check = ImagePriors.exportCheck(bin, s, new int[][] {probe.window(0, 50),
                probe.window(1, 50)});
        assertThat(check.maxAbsDiff()).isLessThan(1e-4);
    }
}
