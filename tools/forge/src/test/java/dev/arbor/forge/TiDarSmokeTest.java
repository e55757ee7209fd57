package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.llama2c.Llama2cModelCard;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The TiDAR recipe end to end at smoke size: both held-out losses drop, the export agrees with the DJL network on
 * the training layout sent as an Explicit mask (reference model and ONNX Runtime), and the card says what the tidar
 * generator reads (causal, next-position rows, the MASK id, the draft length). Skips without the shared models
 * (the corpus teacher) unless arbor.requireModels=true.
 */
class TiDarSmokeTest {
    @TempDir
    static Path work;

    @Test
    void smokeRunLearnsBothRolesAndTheCardNamesTheMask() throws Exception {
        Path teacher = SharedModels.require("stories260K/stories260K.bin");
        Forge forge = new Forge(teacher.getParent().getParent(), work, 1, line -> { });
        Recipe r = Recipe.read(Path.of("recipes", "tidar.json")).smokeVariant();
        Path runDir = forge.train(r, null, null);
        JsonNode run = Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        assertThat(run.get("heldout_loss").asDouble()).isLessThan(run.get("heldout_loss_initial").asDouble() - 0.1);
        assertThat(run.get("heldout_loss_ar").asDouble() + run.get("heldout_loss_draft").asDouble())
                .isCloseTo(run.get("heldout_loss").asDouble(), org.assertj.core.data.Offset.offset(1e-3));
        assertThat(run.get("skipped_steps").asInt()).isZero();

        Path out = forge.export(r, work.resolve("export"), new Exporter.Measure(2, 16, true, null));
        Path bin = out.resolve(r.name() + ".bin");
        JsonNode card = Json.MAPPER.readTree(Llama2cModelCard.sidecarOf(bin).toFile());
        assertThat(card.get("export_check").get("attention_spec").asText()).isEqualTo("Explicit");
        assertThat(card.get("export_check").get("max_abs_logit_diff_reference").asDouble()).isLessThan(1e-4);
        assertThat(card.get("export_check").get("max_abs_logit_diff_onnxruntime").asDouble()).isLessThan(1e-4);
        assertThat(card.get("tidar").get("draft_length").asInt()).isEqualTo(r.objective().blockSize());
        assertThat(card.get("evaluation").has("heldout_loss_draft")).isTrue();
        Llama2cModelCard read = Llama2cModelCard.forCheckpoint(bin);
        assertThat(read.attention()).isEqualTo(NativeAttention.CAUSAL);
        assertThat(read.alignment()).isEqualTo(LogitAlignment.NEXT);
        assertThat(read.mask()).hasValue(BpeTrainer.MASK_ID);
        assertThat(Files.readString(out.resolve("MODEL_CARD.md"))).contains("held-out loss per role", "TiDAR");
    }
}
