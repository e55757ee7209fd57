package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import dev.arbor.api.ArborException;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Parts of the forge that need no shared models: recipes, BPE, objectives' masks and noise, determinism. */
class ForgeUnitTest {
    static final List<String> RECIPES = List.of("default-ar.json", "draft-ar.json", "mdlm.json", "bd.json");

    @Test
    void recipesParseAndShareOneCorpusAndTokenizer() {
        Recipe first = Recipe.read(Path.of("recipes", RECIPES.get(0)));
        for (String f : RECIPES) {
            Recipe r = Recipe.read(Path.of("recipes", f));
            assertThat(r.corpus()).isEqualTo(first.corpus());
            assertThat(r.tokenizer()).isEqualTo(first.tokenizer());
            assertThat(r.smoke().steps()).isLessThanOrEqualTo(10);
        }
        // The draft is much smaller than the default model.
        Recipe draft = Recipe.read(Path.of("recipes", "draft-ar.json"));
        assertThat(draft.model().dim() * draft.model().nLayers())
                .isLessThan(first.model().dim() * first.model().nLayers() / 3);
    }

    @Test
    void recipeValidationNamesTheProblem(@TempDir Path dir) throws Exception {
        String json = Files.readString(Path.of("recipes", "bd.json")).replace("\"block_size\": 8", "\"block_size\": 7");
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, json);
        assertThatThrownBy(() -> Recipe.read(bad)).isInstanceOf(ArborException.class)
                .hasMessageContaining("block_size").hasMessageContaining("seq_len");
    }

    @Test
    void bpeIsDeterministicAndLlama2cReadsIt(@TempDir Path dir) throws Exception {
        List<String> texts = List.of("Once upon a time there was a little dog.", "The dog was happy.",
                "Once upon a time, a girl named Lily found a ball.", "Lily and the dog played all day.");
        BpeTrainer.Vocabulary a = BpeTrainer.train(texts, 300);
        BpeTrainer.Vocabulary b = BpeTrainer.train(texts, 300);
        assertThat(a.pieces()).isEqualTo(b.pieces());
        a.write(dir.resolve("tok.bin"));
        Llama2cTokenizer tok = Llama2cTokenizer.read(dir.resolve("tok.bin"), 0);
        assertThat(tok.vocabSize()).isEqualTo(a.size());
        for (String t : texts) {
            assertThat(tok.decode(tok.encode(t, true))).isEqualTo(t);
        }
        // Learned merges are used: " dog" is one piece.
        assertThat(tok.encode("dog", false)).hasSize(1);
        assertThat(tok.decode(tok.encode("xylophone ZEBRA", true))).isEqualTo("xylophone ZEBRA");
    }

    /**
     * The BD3-LM training mask, restricted to the noisy half, is exactly what AttentionSpec.Segments means at
     * inference for a sequence of committed blocks followed by the current block: key k visible to query q iff
     * segment(k) <= segment(q), where the current block's tokens are all in the last segment.
     */
    @Test
    void blockDiffusionMaskMatchesSegmentsAtInference() {
        int bs = 4;
        int l = 16;
        for (int q = 0; q < l; q++) {
            int qb = q / bs;
            for (int k = 0; k < 2 * l; k++) {
                boolean train = BlockDiffusionObjective.visible(q, k, l, bs);
                boolean inference;
                if (k < l) {
                    // A noisy key is a token of some block at inference only while that block is being denoised.
                    inference = k / bs == qb;
                } else {
                    int kb = (k - l) / bs;
                    inference = kb < qb; // committed blocks: segment kb < current segment qb
                }
                assertThat(train).as("q %d k %d", q, k).isEqualTo(inference);
            }
            // Clean queries never see noisy keys, and see clean keys block-causally.
            for (int k = 0; k < 2 * l; k++) {
                boolean v = BlockDiffusionObjective.visible(l + q, k, l, bs);
                assertThat(v).isEqualTo(k >= l && (k - l) / bs <= qb);
            }
        }
    }

    @Test
    void diffusionNoiseIsSeededAndWeighted() {
        int[][] windows = new int[8][64];
        for (int[] w : windows) {
            java.util.Arrays.fill(w, 300);
        }
        MaskedDiffusionObjective o = new MaskedDiffusionObjective(BpeTrainer.MASK_ID, 0.02);
        TrainingObjective.Batch a = o.batch(windows, new SplittableRandom(5));
        TrainingObjective.Batch b = o.batch(windows, new SplittableRandom(5));
        assertThat(a.tokens()).isDeepEqualTo(b.tokens());
        for (int r = 0; r < 8; r++) {
            for (int j = 0; j < 64; j++) {
                boolean masked = a.tokens()[r][j] == BpeTrainer.MASK_ID;
                assertThat(a.weights()[r][j] > 0).isEqualTo(masked);
                if (masked) {
                    // 1/t with t in [eps, 1]
                    assertThat(a.weights()[r][j]).isBetween(1f, 50f);
                }
            }
        }
        BlockDiffusionObjective bd = new BlockDiffusionObjective(BpeTrainer.MASK_ID, 0.02, 8);
        TrainingObjective.Batch c = bd.batch(windows, new SplittableRandom(5));
        assertThat(c.tokens()[0]).hasSize(128);
        assertThat(c.positions()[0][64]).isZero();
        assertThat(java.util.Arrays.copyOfRange(c.tokens()[0], 64, 128)).containsOnly(300);
        assertThat(c.scored()).isEqualTo(64);
    }

    @Test
    void initIsSeededAndExportIsBitExact(@TempDir Path dir) throws Exception {
        Llama2cConfig cfg = new Llama2cConfig(32, 64, 2, 4, 4, 300, 16, true);
        DjlSetup.configure(1);
        try (NDManager m = NDManager.newBaseManager();
             LlamaNet a = LlamaNet.init(cfg, 9, m);
             LlamaNet b = LlamaNet.init(cfg, 9, m)) {
            a.writeCheckpoint(dir.resolve("a.bin"));
            b.writeCheckpoint(dir.resolve("b.bin"));
            assertThat(Files.mismatch(dir.resolve("a.bin"), dir.resolve("b.bin"))).isEqualTo(-1L);
            assertThat(Files.size(dir.resolve("a.bin"))).isEqualTo(cfg.fileSize());
            ExportCheck.Result r = ExportCheck.compare(dir.resolve("a.bin"), "ar", 0,
                    new int[][] {{1, 5, 9, 200, 7, 3}}, null);
            assertThat(r.referenceMaxAbsDiff()).isLessThan(1e-4);
        }
    }

    @Test
    void learningRateWarmsUpThenDecaysToMin() {
        Recipe.Optimizer o = new Recipe.Optimizer(1e-3, 1e-4, 10, 0.1, 0.9, 0.95, 1.0);
        assertThat(Trainer.learningRate(o, 0, 100)).isEqualTo(1e-4, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(Trainer.learningRate(o, 9, 100)).isEqualTo(1e-3, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(Trainer.learningRate(o, 99, 100)).isCloseTo(1e-4, org.assertj.core.data.Offset.offset(1e-6));
        assertThat(Trainer.learningRate(o, 55, 100)).isBetween(1e-4, 1e-3);
    }
}
