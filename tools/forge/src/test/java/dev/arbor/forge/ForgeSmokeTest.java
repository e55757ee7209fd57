package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cModelCard;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The forge end to end on each recipe's smoke section: a small corpus distilled from stories260K, the BPE, a few
 * training steps, export, and the exported checkpoint read back by models/llama2c (reference model and ONNX Runtime)
 * agreeing with the DJL network. Skips without the shared models unless arbor.requireModels=true.
 */
class ForgeSmokeTest {
    @TempDir
    static Path work;
    static Forge forge;
    static final List<String> LOG = new ArrayList<>();

    @BeforeAll
    static void setUp() {
        Path teacher = SharedModels.require("stories260K/stories260K.bin");
        forge = new Forge(teacher.getParent().getParent(), work, 1, line -> {
            synchronized (LOG) {
                LOG.add(line);
            }
        });
    }

    static Recipe smoke(String file) {
        return Recipe.read(Path.of("recipes", file)).smokeVariant();
    }

    @Test
    void tokenizerRoundTripsHeldOutStoriesAndNeverProducesMask() throws Exception {
        Recipe r = smoke("default-ar.json");
        List<List<String>> parts = Forge.split(forge.corpus(r), r.corpus().heldoutFraction());
        Llama2cTokenizer tok = forge.readTokenizer(r);
        assertThat(tok.vocabSize()).isEqualTo(r.tokenizer().vocabSize());
        assertThat(tok.tokenText(Llama2cTokenizer.BOS)).isEqualTo("\n<s>\n");
        assertThat(tok.tokenText(3)).isEqualTo("<0x00>");
        assertThat(tok.tokenText(258)).isEqualTo("<0xFF>");
        assertThat(tok.tokenText(BpeTrainer.MASK_ID)).isEqualTo(BpeTrainer.MASK_PIECE);
        assertThat(parts.get(1)).isNotEmpty();
        for (String s : parts.get(1)) {
            int[] ids = tok.encode(s, true);
            assertThat(tok.decode(ids)).isEqualTo(s);
            assertThat(ids).doesNotContain(BpeTrainer.MASK_ID);
            // The BPE compresses: fewer tokens than UTF-8 bytes.
            assertThat(ids.length).isLessThan(s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length);
        }
        // Text that spells the MASK piece, control character included, still never encodes to MASK.
        assertThat(tok.encode("a " + BpeTrainer.MASK_PIECE + " b", true)).doesNotContain(BpeTrainer.MASK_ID);
        assertThat(tok.encode("héllo wörld ☃ 🙂", true)).doesNotContain(Llama2cTokenizer.UNK);
        assertThat(tok.decode(tok.encode("héllo wörld ☃ 🙂", true))).isEqualTo("héllo wörld ☃ 🙂");
    }

    @ParameterizedTest
    @ValueSource(strings = {"default-ar.json", "draft-ar.json", "mdlm.json", "bd.json"})
    void smokeRunLearnsAndExportAgreesWithReferenceAndOnnxRuntime(String file) throws Exception {
        Recipe r = smoke(file);
        Path runDir = forge.train(r, null, null);
        JsonNode run = Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        // Same windows and same masking noise before and after: the held-out loss must drop.
        assertThat(run.get("heldout_loss").asDouble()).isLessThan(run.get("heldout_loss_initial").asDouble() - 0.1);
        assertThat(run.get("skipped_steps").asInt()).isZero();

        Path out = forge.export(r, work.resolve("export-" + r.name()), new Exporter.Measure(2, 16, true, null));
        Path bin = out.resolve(r.name() + ".bin");
        Llama2cCheckpoint ckpt = Llama2cCheckpoint.read(bin);
        assertThat(ckpt.config().dim()).isEqualTo(r.model().dim());
        assertThat(ckpt.config().vocabSize()).isEqualTo(r.tokenizer().vocabSize());

        String kind = r.objective().kind();
        int block = r.objective().blockSize();
        TokenStream held = forge.streams(r)[1];
        int[][] tokens = {held.window(0, 32), held.window(1, 32)};
        if (!kind.equals("ar")) {
            for (int[] row : tokens) {
                for (int j = 0; j < row.length; j += 2) {
                    row[j] = BpeTrainer.MASK_ID;
                }
            }
        }
        ExportCheck.Result check = ExportCheck.compare(bin, kind, block, tokens, work.resolve("onnx"));
        assertThat(check.referenceMaxAbsDiff()).isLessThan(1e-4);
        assertThat(check.onnxMaxAbsDiff()).isLessThan(1e-4);
        assertThat(check.attention()).isEqualTo(switch (kind) {
            case "ar" -> "Causal";
            case "mdlm" -> "Full";
            default -> "Segments";
        });

        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin);
        assertThat(card.name()).isEqualTo(r.name());
        assertThat(card.bos()).hasValue(Llama2cTokenizer.BOS);
        assertThat(card.eos()).containsExactly(Llama2cTokenizer.EOS);
        assertThat(card.alignment()).isEqualTo(kind.equals("ar") ? LogitAlignment.NEXT : LogitAlignment.SAME);
        assertThat(card.attention()).isEqualTo(switch (kind) {
            case "ar" -> NativeAttention.CAUSAL;
            case "mdlm" -> NativeAttention.BIDIRECTIONAL;
            default -> NativeAttention.BLOCK_CAUSAL;
        });
        assertThat(card.blockSize()).isEqualTo(kind.equals("bd") ? block : 0);
        if (kind.equals("ar")) {
            assertThat(card.mask()).isEmpty();
        } else {
            assertThat(card.mask()).hasValue(BpeTrainer.MASK_ID);
        }
        JsonNode json = Json.MAPPER.readTree(Llama2cModelCard.sidecarOf(bin).toFile());
        assertThat(json.get("export_check").get("max_abs_logit_diff_onnxruntime").asDouble()).isLessThan(1e-4);
        assertThat(json.get("samples").size()).isPositive();
        assertThat(Files.readString(out.resolve("MODEL_CARD.md"))).contains("held-out loss", r.name());
        assertThat(Files.mismatch(out.resolve("tokenizer.bin"), forge.tokenizer(r))).isEqualTo(-1L);
    }
}
