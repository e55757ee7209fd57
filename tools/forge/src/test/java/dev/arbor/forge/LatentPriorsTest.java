package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.image.LatentImageCodec;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cModelCard;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The continuous-latent Gaussian prior end to end on a tiny network and 64 Fashion-MNIST images: the recipe trains
 * (the NLL falls), exports a card that Llama2cModelCard reads with its GAUSSIAN continuous head, and the exported file
 * read back by the reference model through input embeddings reproduces the training network. The real models are
 * trained by the recipes, never here.
 */
class LatentPriorsTest {
    @TempDir
    static Path work;
    static final Path TRAINED = Path.of("..", "..", "models", "trained"); // surefire runs in tools/forge

    @BeforeAll
    static void setUp() {
        assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        DjlSetup.configure(1);
    }

    @Test
    void trainsExportsAndTheExportedFileReproducesTheTrainingNetworkThroughInputEmbeddings() throws Exception {
        Recipe smoke = Recipe.read(Path.of("recipes", "fashion-cgauss.json")).smokeVariant();
        Recipe r = new Recipe(smoke.name(), smoke.description(), smoke.seed(), null, null,
                new Recipe.Architecture(32, 64, 2, 2, 49, true), smoke.objective(), smoke.optimizer(), 24,
                smoke.batchSize(), 1, 0, smoke.evalBatches(), smoke.smoke(), smoke.image());
        assertThat(LatentPriors.handles(r)).isTrue();
        LatentPriors priors = new LatentPriors(work, TRAINED, 1, line -> { });
        Path runDir = priors.train(r, 0);
        JsonNode run = Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        assertThat(run.get("skipped_steps").asInt()).isZero();
        assertThat(run.get("train_loss_last100_mean").asDouble()).isLessThan(run.get("train_loss_first").asDouble());
        assertThat(run.get("heldout_images").asInt()).isEqualTo(16);

        Path out = priors.export(r, work.resolve("export"));
        Path bin = out.resolve(r.name() + ".bin");
        Llama2cConfig cfg = Llama2cCheckpoint.read(bin).config();
        LatentImageCodec codec = LatentPriors.codec(r, TRAINED);
        assertThat(cfg.vocabSize()).isEqualTo(codec.layout().vocabSize());
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(cfg, bin.toString());
        assertThat(card.alignment()).isEqualTo(LogitAlignment.NEXT);
        assertThat(card.attention()).isEqualTo(NativeAttention.CAUSAL);
        assertThat(card.continuousHead()).isEqualTo(new ContinuousHead(16, ContinuousHead.Kind.GAUSSIAN, 0,
                codec.layout().featureBasisToken(0), -1, 0));
        JsonNode sidecar = Json.MAPPER.readTree(out.resolve(r.name() + ".card.json").toFile());
        assertThat(sidecar.get("export_check").get("max_abs_logit_diff_reference").asDouble()).isLessThan(1e-4);
        assertThat(sidecar.get("export_check").get("positions").asInt()).isEqualTo(49);
        assertThat(Files.readString(out.resolve("MODEL_CARD.md"))).contains("Held-out NLL", "Export check",
                "GAUSSIAN:16:0:267:-1:0");

        // the check recomputed on the exported file
        LatentData probe = LatentData.encode(FashionMnist.load(FashionMnist.Split.TEST).images(),
                FashionMnist.load(FashionMnist.Split.TEST).labels(), 2, codec);
        LatentPriors.Check check = LatentPriors.exportCheck(bin, codec.layout(), probe);
        assertThat(check.maxAbsDiff()).isLessThan(1e-4);
        assertThat(check.rows()).isEqualTo(2);
    }
}
