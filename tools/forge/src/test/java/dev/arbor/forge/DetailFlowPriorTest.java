package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cModelCard;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The recipe fashion-detailflow over the 1D coarse-to-fine tokenizer (format image-1d) and its committed prior:
 * the group-parallel objective reads the tokenizer file (16 tokens, one "scale" of side 4, feature width 64), a
 * decode is 1 + 3 + 3 = 7 forwards, and the committed card and export check (rerun on the file) hold.
 */
class DetailFlowPriorTest {
    static final Path TRAINED = Path.of("..", "..", "models", "trained"); // surefire runs in tools/forge

    @Test
    void theRecipeReadsTheCoarseToFineTokenizer() {
        Recipe r = Recipe.read(Path.of("recipes", "fashion-detailflow.json"));
        ImagePriors.Setup s = ImagePriors.setup(r, TRAINED);
        ImageLayout layout = s.layout();
        assertThat(layout.scales()).containsExactly(4);
        assertThat(layout.tokensPerImage()).isEqualTo(16);
        assertThat(layout.codes()).isEqualTo(512);
        assertThat(layout.featureDim()).isEqualTo(64);
        GroupParallelImageObjective o = (GroupParallelImageObjective) s.objective();
        assertThat(o.groupSize()).isEqualTo(4);
        assertThat(o.causalNum()).isEqualTo(4);
        assertThat(o.forwards()).isEqualTo(1 + 3 + 3);
        assertThat(o.queryToken(1)).isEqualTo(layout.vocabSize());
        assertThat(ImagePriors.config(r, layout).vocabSize()).isEqualTo(layout.vocabSize() + 3);
        // the encoder is the tokenizer's: codes in range, a prefix of them decodes to an image
        float[] image = FashionMnist.load(FashionMnist.Split.TEST).image(0);
        int[] codes = s.encoder().apply(image);
        assertThat(codes).hasSize(16);
        assertThat(s.decoder().apply(codes)).hasSize(784);
    }

    @Test
    void theCommittedPriorHasItsCardAndPassesTheExportCheck() throws Exception {
        Path bin = TRAINED.resolve("fashion-detailflow").resolve("fashion-detailflow.bin");
        Recipe r = Recipe.read(Path.of("recipes", "fashion-detailflow.json"));
        ImagePriors.Setup s = ImagePriors.setup(r, TRAINED);
        Llama2cConfig cfg = Llama2cCheckpoint.read(bin).config();
        assertThat(cfg.vocabSize()).isEqualTo(s.layout().vocabSize() + 3);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(cfg, bin.toString());
        assertThat(card.alignment()).isEqualTo(LogitAlignment.NEXT);
        assertThat(card.attention()).isEqualTo(NativeAttention.BLOCK_CAUSAL);
        assertThat(card.blockSize()).isEqualTo(4);
        JsonNode json = Json.MAPPER.readTree(Llama2cModelCard.sidecarOf(bin).toFile());
        assertThat(json.get("image").get("tokenizer").asText()).isEqualTo("fashion-detail-vq.bin");
        assertThat(json.get("image").get("group_size").asInt()).isEqualTo(4);
        assertThat(json.get("image").get("causal_num").asInt()).isEqualTo(4);
        assertThat(json.get("image").get("forwards_per_image").asInt()).isEqualTo(7);
        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        ImageData probe = ImageData.encode(test.images(), test.labels(), 2, s.layout(), s.encoder());
        ImagePriors.Check check = ImagePriors.exportCheck(bin, s, new int[][] {probe.window(0, 17),
                probe.window(1, 17)});
        assertThat(check.maxAbsDiff()).isLessThan(1e-4);
        assertThat(check.attention()).startsWith("Segments");
    }
}
