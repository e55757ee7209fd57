package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cModelCard;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The committed models (models/trained): each loads as a llama2.c checkpoint with its card and tokenizer, the four
 * share one tokenizer, their exported logits agree across the DJL network, the reference model and ONNX Runtime,
 * and together they stay under 64 MB (the text models and the image priors of every decoding method, each a few MB:
 * the repository and the distribution carry them all). Needs nothing outside the repository.
 */
class TrainedModelsTest {
    static final Path TRAINED = Path.of("..", "..", "models", "trained");
    static final List<String> MODELS = List.of("arbor-tiny-ar", "arbor-tiny-draft", "arbor-tiny-mdlm",
            "arbor-tiny-bd", "arbor-tiny-tidar");

    @Test
    void committedModelsAreSmallAndShareOneTokenizer() throws IOException {
        long total;
        try (Stream<Path> files = Files.walk(TRAINED)) {
            total = files.filter(Files::isRegularFile).mapToLong(p -> p.toFile().length()).sum();
        }
        assertThat(total).isLessThan(64L * 1024 * 1024);
        Path first = TRAINED.resolve(MODELS.get(0)).resolve("tokenizer.bin");
        for (String m : MODELS) {
            assertThat(Files.mismatch(first, TRAINED.resolve(m).resolve("tokenizer.bin"))).as(m).isEqualTo(-1L);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"arbor-tiny-ar", "arbor-tiny-draft", "arbor-tiny-mdlm", "arbor-tiny-bd",
            "arbor-tiny-tidar"})
    void modelLoadsWithCardAndExportAgrees(String name) throws Exception {
        Path dir = TRAINED.resolve(name);
        Path bin = dir.resolve(name + ".bin");
        Llama2cCheckpoint ckpt = Llama2cCheckpoint.read(bin);
        Llama2cTokenizer tok = Llama2cTokenizer.read(dir.resolve("tokenizer.bin"), 0);
        assertThat(tok.vocabSize()).isEqualTo(ckpt.config().vocabSize());
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin);
        assertThat(card.name()).isEqualTo(name);
        JsonNode json = Json.MAPPER.readTree(Llama2cModelCard.sidecarOf(bin).toFile());
        assertThat(json.get("parameters").asLong()).isPositive();
        assertThat(json.get("evaluation").get("heldout_perplexity").asDouble()).isGreaterThan(1);
        assertThat(json.get("samples").size()).isPositive();
        assertThat(dir.resolve("MODEL_CARD.md")).exists();

        // A causal model with a MASK is TiDAR's dual-mode model: checked on its training layout (Explicit mask).
        boolean tidar = json.has("tidar");
        String kind = switch (card.attention()) {
            case CAUSAL -> tidar ? TiDarObjective.KIND : "ar";
            case BIDIRECTIONAL -> "mdlm";
            default -> "bd";
        };
        if (card.attention() != NativeAttention.CAUSAL || tidar) {
            assertThat(card.mask()).hasValue(BpeTrainer.MASK_ID);
            assertThat(tok.tokenText(BpeTrainer.MASK_ID)).isEqualTo(BpeTrainer.MASK_PIECE);
        }
        int[] text = tok.encode("Once upon a time, there was a little girl named Lily. She liked to play.", true);
        int[][] tokens = {java.util.Arrays.copyOf(text, 16)};
        if (!kind.equals("ar") && !tidar) {
            for (int j = 3; j < 16; j += 2) {
                tokens[0][j] = BpeTrainer.MASK_ID;
            }
        }
        ExportCheck.Result r = ExportCheck.compare(bin, kind, tidar ? json.get("tidar").get("draft_length").asInt()
                : card.blockSize(), tokens,
                Files.createTempDirectory("onnx"));
        assertThat(r.referenceMaxAbsDiff()).isLessThan(1e-4);
        assertThat(r.onnxMaxAbsDiff()).isLessThan(1e-4);
    }
}
