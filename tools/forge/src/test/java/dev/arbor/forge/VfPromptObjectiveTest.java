package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.images.MultiScaleVq;
import dev.arbor.models.images.PatchVqTokenizer;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cModelCard;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The VF-prompt objective: windows {@code [class, 540 + msvq scales 1-2, patch codes]} of the same image, the scored
 * parts, condition dropout that keeps the VF tokens; and the recipe end to end on a tiny network (train, export with
 * the card's vf facts and both held-out parts, the export check, samples through the VF path of the sampler).
 */
class VfPromptObjectiveTest {
    @TempDir
    static Path work;
    static final Path TRAINED = Path.of("..", "..", "models", "trained"); // surefire runs in tools/forge

    @BeforeAll
    static void setUp() {
        assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        DjlSetup.configure(1);
    }

    @Test
    void windowsHoldTheCoarseFullViewThenTheCodesAndThePartsScoreWhatTheySay() {
        Recipe r = ImagePriorsTest.tiny("fashion-vf.json");
        ImagePriors.Setup s = ImagePriors.setup(r, TRAINED);
        ImageLayout l = s.layout();
        VfPromptObjective o = (VfPromptObjective) s.objective();
        assertThat(o.vfTokens()).isEqualTo(5);
        assertThat(o.vfOffset()).isEqualTo(l.vocabSize()).isEqualTo(540);
        assertThat(o.vocabSize()).isEqualTo(540 + 512);
        float[] image = FashionMnist.load(FashionMnist.Split.TEST).image(3);
        int[] ids = s.encoder().apply(image);
        int[] coarse = MultiScaleVq.read(TRAINED.resolve("fashion-vq/fashion-msvq.bin")).encode(image);
        int[] codes = PatchVqTokenizer.read(TRAINED.resolve("fashion-vq/fashion-patch-vq.bin")).encode(image);
        assertThat(Arrays.copyOf(ids, 5)).containsExactly(Arrays.stream(coarse, 0, 5).map(c -> 540 + c).toArray());
        assertThat(Arrays.copyOfRange(ids, 5, 54)).containsExactly(codes);
        assertThat(s.decoder().apply(codes)).hasSize(28 * 28);

        int[] window = new int[55];
        window[0] = l.classToken(4);
        System.arraycopy(ids, 0, window, 1, 54);
        int[][] two = {window, window};
        TrainingObjective.Batch all = o.batch(two, new SplittableRandom(1));
        assertThat(all.tokens()[0]).containsExactly(Arrays.copyOf(window, 54));
        assertThat(all.targets()[0]).containsExactly(Arrays.copyOfRange(window, 1, 55));
        assertThat(all.normalizer()).isEqualTo(2 * 54);
        TrainingObjective.Batch img = o.conditional(VfPromptObjective.Part.IMAGE).batch(two, new SplittableRandom(1));
        TrainingObjective.Batch vf = o.conditional(VfPromptObjective.Part.VF).batch(two, new SplittableRandom(1));
        for (int j = 0; j < 54; j++) {
            // target j is sequence token j + 1: the first 5 are the VF ids
            assertThat(img.weights()[1][j]).isEqualTo(j < 5 ? 0f : 1f);
            assertThat(vf.weights()[1][j]).isEqualTo(j < 5 ? 1f : 0f);
        }
        assertThat(img.normalizer()).isEqualTo(2 * 49);
        assertThat(vf.normalizer()).isEqualTo(2 * 5);
        assertThat(img.tokens()[0][0]).isEqualTo(l.classToken(4)); // the held-out parts never drop the class

        // condition dropout replaces the class only: the null-class row keeps its own VF tokens
        VfPromptObjective dropping = new VfPromptObjective(l, 5, 512, 0.999, VfPromptObjective.Part.ALL);
        int[][] many = new int[64][];
        Arrays.fill(many, window);
        int[][] in = dropping.batch(many, new SplittableRandom(2)).tokens();
        assertThat(Arrays.stream(in).filter(row -> row[0] == l.nullClassToken()).count()).isGreaterThan(60);
        for (int[] row : in) {
            assertThat(Arrays.copyOfRange(row, 1, 54)).containsExactly(Arrays.copyOfRange(window, 1, 54));
        }
    }

    @Test
    void theRecipeTrainsAndExportsWithItsVfFactsAndBothHeldOutParts() throws Exception {
        Recipe r = ImagePriorsTest.tiny("fashion-vf.json");
        ImagePriors priors = new ImagePriors(work, TRAINED, 1, line -> { });
        Path runDir = priors.train(r, 0);
        JsonNode run = Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        assertThat(run.get("train_loss_last10_mean").asDouble())
                .isLessThan(run.get("train_loss_first").asDouble() - 0.5);
        double image = run.get("heldout_loss").asDouble();
        double vf = run.get("heldout_loss_vf").asDouble();
        assertThat(image).isPositive().isNotEqualTo(vf);
        assertThat(vf).isPositive().isLessThan(run.get("train_loss_first").asDouble() + 1);

        Path out = priors.export(r, work.resolve("export"), null, 10);
        Path bin = out.resolve(r.name() + ".bin");
        Llama2cConfig cfg = Llama2cCheckpoint.read(bin).config();
        assertThat(cfg.vocabSize()).isEqualTo(1052);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(cfg, bin.toString());
        assertThat(card.alignment()).isEqualTo(LogitAlignment.NEXT);
        assertThat(card.attention()).isEqualTo(NativeAttention.CAUSAL);
        JsonNode sidecar = Json.MAPPER.readTree(out.resolve(r.name() + ".card.json").toFile());
        JsonNode facts = sidecar.get("vf");
        assertThat(facts.get("tokens").asInt()).isEqualTo(5);
        assertThat(facts.get("offset").asInt()).isEqualTo(540);
        assertThat(facts.get("codes").asInt()).isEqualTo(512);
        assertThat(facts.get("tokenizer").asText()).isEqualTo("fashion-msvq.bin");
        assertThat(sidecar.get("image").get("layout").asText()).isEqualTo("vf-prompt");
        assertThat(sidecar.get("evaluation").get("heldout_loss").asDouble()).isEqualTo(image);
        assertThat(sidecar.get("evaluation").get("heldout_loss_vf").asDouble()).isEqualTo(vf);
        assertThat(sidecar.get("export_check").get("positions").asInt()).isEqualTo(55);
        assertThat(sidecar.get("export_check").get("max_abs_logit_diff_reference").asDouble()).isLessThan(1e-4);
        assertThat(sidecar.get("measurements").get("class_accuracy").get("samples").asInt()).isEqualTo(10);
        assertThat(Files.readString(out.resolve("MODEL_CARD.md"))).contains("VF ids 540..1051",
                "Held-out loss of the VF tokens", "vocab 1052");
    }

    @Test
    void theCommittedPriorLoadsWithItsCardAndTheExportCheckHolds() throws Exception {
        Recipe r = Recipe.read(Path.of("recipes", "fashion-vf.json"));
        ImagePriors.Setup s = ImagePriors.setup(r, TRAINED);
        Path bin = TRAINED.resolve("fashion-vf").resolve("fashion-vf.bin");
        Llama2cCheckpoint ckpt = Llama2cCheckpoint.read(bin);
        assertThat(ckpt.config().vocabSize()).isEqualTo(((VfPromptObjective) s.objective()).vocabSize())
                .isEqualTo(1052);
        assertThat(ckpt.config().seqLen()).isGreaterThanOrEqualTo(55);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(ckpt.config(), bin.toString());
        assertThat(card.name()).isEqualTo("fashion-vf");
        assertThat(card.alignment()).isEqualTo(LogitAlignment.NEXT);
        assertThat(card.attention()).isEqualTo(NativeAttention.CAUSAL);
        JsonNode json = Json.MAPPER.readTree(Llama2cModelCard.sidecarOf(bin).toFile());
        assertThat(json.get("vf").get("offset").asInt()).isEqualTo(540);
        assertThat(json.get("vf").get("tokens").asInt()).isEqualTo(5);
        assertThat(json.get("evaluation").get("heldout_images").asInt()).isEqualTo(10_000);
        assertThat(json.get("evaluation").has("heldout_loss_vf")).isTrue();
        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        ImageData probe = ImageData.encode(test.images(), test.labels(), 2, s.layout(), s.encoder(), 54);
        ImagePriors.Check check = ImagePriors.exportCheck(bin, s, new int[][] {probe.window(0, 55),
                probe.window(1, 55)});
        assertThat(check.maxAbsDiff()).isLessThan(1e-4);
    }

    @Test
    void recipesNameTheVfTokenizerExactlyWhenTheyUseIt() throws Exception {
        JsonNode vf = Json.MAPPER.readTree(Path.of("recipes", "fashion-vf.json").toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) vf.get("image")).remove("vf_tokenizer");
        Path noTokenizer = work.resolve("no-vf-tokenizer.json");
        Json.MAPPER.writeValue(noTokenizer.toFile(), vf);
        assertThatThrownBy(() -> Recipe.read(noTokenizer)).isInstanceOf(ArborException.class)
                .hasMessageContaining("image.vf_tokenizer");
        JsonNode ar = Json.MAPPER.readTree(Path.of("recipes", "fashion-ar.json").toFile());
        ((com.fasterxml.jackson.databind.node.ObjectNode) ar.get("image")).put("vf_scales", 2);
        Path stray = work.resolve("stray-vf.json");
        Json.MAPPER.writeValue(stray.toFile(), ar);
        assertThatThrownBy(() -> Recipe.read(stray)).isInstanceOf(ArborException.class)
                .hasMessageContaining("belong to objective image-vf-prompt");
    }
}
