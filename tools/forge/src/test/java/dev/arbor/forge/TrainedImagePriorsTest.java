package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cModelCard;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The committed Fashion-MNIST priors (models/trained/fashion-*): each loads with its card, has the vocabulary of its
 * tokenizer's layout, names its tokenizer and layout, and the exported file still computes what the DJL network
 * computes on two test images (the card's export check, rerun on the committed file).
 */
class TrainedImagePriorsTest {
    static final Path TRAINED = Path.of("..", "..", "models", "trained"); // surefire runs in tools/forge

    @ParameterizedTest
    @ValueSource(strings = {"fashion-ar", "fashion-ar-draft", "fashion-var"})
    void priorLoadsWithItsCardAndTheExportCheckHolds(String name) throws Exception {
        assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        DjlSetup.configure(1);
        Recipe r = Recipe.read(Path.of("recipes", name + ".json"));
        ImagePriors.Setup s = ImagePriors.setup(r, TRAINED);
        boolean raster = s.multiScale() == null;
        Path bin = TRAINED.resolve(name).resolve(name + ".bin");
        Llama2cCheckpoint ckpt = Llama2cCheckpoint.read(bin);
        assertThat(ckpt.config().vocabSize()).isEqualTo(s.layout().vocabSize()).isEqualTo(raster ? 540 : 545);
        assertThat(ckpt.config().seqLen()).isGreaterThanOrEqualTo(raster ? 50 : 104);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(ckpt.config(), bin.toString());
        assertThat(card.name()).isEqualTo(name);
        assertThat(card.alignment()).isEqualTo(raster ? LogitAlignment.NEXT : LogitAlignment.SAME);
        assertThat(card.attention()).isEqualTo(raster ? NativeAttention.CAUSAL : NativeAttention.SCALE_CAUSAL);
        JsonNode json = Json.MAPPER.readTree(Llama2cModelCard.sidecarOf(bin).toFile());
        assertThat(json.get("image").get("tokenizer").asText()).isEqualTo(s.tokenizerFile().getFileName().toString());
        assertThat(json.get("image").get("layout").asText()).isEqualTo(raster ? "raster" : "next-scale");
        assertThat(json.get("evaluation").get("heldout_images").asInt()).isEqualTo(10_000);
        assertThat(TRAINED.resolve(name).resolve("MODEL_CARD.md")).exists();

        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        ImageData probe = ImageData.encode(test.images(), test.labels(), 2, s.layout(), s.encoder());
        int len = 1 + s.layout().tokensPerImage();
        ImagePriors.Check check = ImagePriors.exportCheck(bin, s, new int[][] {probe.window(0, len),
                probe.window(1, len)});
        assertThat(check.maxAbsDiff()).isLessThan(1e-4);
    }
}
