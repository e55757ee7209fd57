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
import dev.arbor.models.llama2c.Llama2cModelCard;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The committed continuous-latent Gaussian priors (models/trained/fashion-cgauss*): each loads with its card, declares
 * the GAUSSIAN head over the patch-PCA codec's layout, and the exported file still computes what the DJL network
 * computes through input embeddings on two test images (the card's export check, rerun on the committed file).
 */
class TrainedLatentPriorsTest {
    static final Path TRAINED = Path.of("..", "..", "models", "trained"); // surefire runs in tools/forge

    @ParameterizedTest
    @ValueSource(strings = {"fashion-cgauss", "fashion-cgauss-draft"})
    void priorLoadsWithItsGaussianHeadAndTheExportCheckHolds(String name) throws Exception {
        assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        DjlSetup.configure(1);
        Recipe r = Recipe.read(Path.of("recipes", name + ".json"));
        LatentImageCodec codec = LatentPriors.codec(r, TRAINED);
        Path bin = TRAINED.resolve(name).resolve(name + ".bin");
        Llama2cCheckpoint ckpt = Llama2cCheckpoint.read(bin);
        assertThat(ckpt.config().vocabSize()).isEqualTo(codec.layout().vocabSize()).isEqualTo(284);
        assertThat(ckpt.config().seqLen()).isGreaterThanOrEqualTo(codec.latentTokens());
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(ckpt.config(), bin.toString());
        assertThat(card.name()).isEqualTo(name);
        assertThat(card.alignment()).isEqualTo(LogitAlignment.NEXT);
        assertThat(card.attention()).isEqualTo(NativeAttention.CAUSAL);
        assertThat(card.continuousHead()).isEqualTo(GaussianLatentObjective.head(codec.layout()));
        assertThat(card.continuousHead().kind()).isEqualTo(ContinuousHead.Kind.GAUSSIAN);
        JsonNode json = Json.MAPPER.readTree(Llama2cModelCard.sidecarOf(bin).toFile());
        assertThat(json.get("image").get("tokenizer").asText()).isEqualTo(r.image().tokenizer());
        assertThat(json.get("evaluation").get("heldout_images").asInt()).isEqualTo(10_000);
        assertThat(json.get("evaluation").get("heldout_loss").asDouble()).isLessThan(0);
        assertThat(TRAINED.resolve(name).resolve("MODEL_CARD.md")).exists();

        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        LatentData probe = LatentData.encode(test.images(), test.labels(), 2, codec);
        assertThat(LatentPriors.exportCheck(bin, codec.layout(), probe).maxAbsDiff()).isLessThan(1e-4);
    }
}
