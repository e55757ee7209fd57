package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.images.MultiScaleVq;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cModelCard;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The image priors end to end on a tiny network and a handful of Fashion-MNIST images: each recipe's objective
 * trains (the loss falls), exports, and the exported checkpoint read back by models/llama2c gives the training
 * network's logits (raster: token ids, causal; next-scale: input embeddings with the Segments mask). The real
 * models are trained by the recipes, never here.
 */
class ImagePriorsTest {
    @TempDir
    static Path work;
    static final List<String> LOG = new ArrayList<>();
    static final Path TRAINED = Path.of("..", "..", "models", "trained"); // surefire runs in tools/forge

    @BeforeAll
    static void setUp() {
        assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        DjlSetup.configure(1);
    }

    /** The recipe's smoke variant on a tiny network: dim 32, 2 layers, 24 steps of 8 images out of 64. */
    static Recipe tiny(String file) {
        Recipe r = Recipe.read(Path.of("recipes", file)).smokeVariant();
        Recipe.Architecture a = new Recipe.Architecture(32, 64, 2, 2, r.model().seqLen(), true);
        return new Recipe(r.name(), r.description(), r.seed(), null, null, a, r.objective(), r.optimizer(), 24,
                r.batchSize(), 1, 0, r.evalBatches(), r.smoke(), r.image());
    }

    @ParameterizedTest
    @ValueSource(strings = {"fashion-ar.json", "fashion-var.json"})
    void trainsExportsAndTheExportedFileReproducesTheTrainingNetwork(String file) throws Exception {
        Recipe r = tiny(file);
        boolean raster = r.objective().kind().equals("image-raster");
        ImagePriors priors = new ImagePriors(work, TRAINED, 1, line -> {
            synchronized (LOG) {
                LOG.add(line);
            }
        });
        Path runDir = priors.train(r, 0);
        JsonNode run = Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        assertThat(run.get("skipped_steps").asInt()).isZero();
        // from ~ln(vocab) = 6.3 nats at initialisation: 24 steps on 64 images must learn the code statistics
        assertThat(run.get("train_loss_last10_mean").asDouble())
                .isLessThan(run.get("train_loss_first").asDouble() - 0.5);
        assertThat(run.get("heldout_loss").asDouble()).isLessThan(run.get("train_loss_first").asDouble());
        assertThat(run.get("heldout_images").asInt()).isEqualTo(16);

        Path out = priors.export(r, work.resolve("export-" + r.name()));
        Path bin = out.resolve(r.name() + ".bin");
        Llama2cConfig cfg = Llama2cCheckpoint.read(bin).config();
        assertThat(cfg.vocabSize()).isEqualTo(raster ? 540 : 545);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(cfg, bin.toString());
        assertThat(card.alignment()).isEqualTo(raster ? LogitAlignment.NEXT : LogitAlignment.SAME);
        assertThat(card.attention()).isEqualTo(raster ? NativeAttention.CAUSAL : NativeAttention.SCALE_CAUSAL);
        assertThat(card.bos()).isEmpty();
        assertThat(card.eos()).isEmpty();
        JsonNode sidecar = Json.MAPPER.readTree(out.resolve(r.name() + ".card.json").toFile());
        assertThat(sidecar.get("image").get("tokenizer").asText())
                .isEqualTo(raster ? "fashion-patch-vq.bin" : "fashion-msvq.bin");
        assertThat(sidecar.get("image").get("layout").asText()).isEqualTo(raster ? "raster" : "next-scale");
        assertThat(sidecar.get("export_check").get("max_abs_logit_diff_reference").asDouble()).isLessThan(1e-4);
        assertThat(sidecar.get("export_check").get("positions").asInt()).isEqualTo(raster ? 50 : 104);
        assertThat(Files.readString(out.resolve("MODEL_CARD.md"))).contains("Held-out loss", "Export check",
                "Fashion-MNIST, MIT, Zalando Research");

        // The check recomputed here, and it must notice a damaged file: a changed embedding row moves the logits.
        ImagePriors.Setup s = ImagePriors.setup(r, TRAINED);
        ImageData probe = ImageData.encode(FashionMnist.load(FashionMnist.Split.TEST).images(),
                FashionMnist.load(FashionMnist.Split.TEST).labels(), 2, s.layout(), s.encoder());
        int len = 1 + s.layout().tokensPerImage();
        int[][] windows = {probe.window(0, len), probe.window(1, len)};
        assertThat(ImagePriors.exportCheck(bin, s, windows).maxAbsDiff()).isLessThan(1e-4);

        // the measurements: samples (class accuracy by fashion-judge, the grid) and, for a raster draft, acceptance
        Path measured = priors.export(r, work.resolve("export-measured-" + r.name()), raster ? bin : null, 10);
        JsonNode m = Json.MAPPER.readTree(measured.resolve(r.name() + ".card.json").toFile()).get("measurements");
        assertThat(m.get("class_accuracy").get("samples").asInt()).isEqualTo(10);
        for (String k : List.of("guidance_1.0", "guidance_3.0")) {
            assertThat(m.get("class_accuracy").get(k).asDouble()).isBetween(0.0, 1.0);
        }
        float[][] grid = dev.arbor.api.image.Png.decode(Files.readAllBytes(measured.resolve("samples.png")));
        assertThat(grid.length).isEqualTo(10 * 28);
        assertThat(grid[0].length).isEqualTo(28);
        if (raster) {
            // a model judged against itself accepts every drafted token
            JsonNode acc = m.get("acceptance");
            assertThat(acc.get("positions").asInt()).isEqualTo(16 * 49);
            assertThat(acc.get("expected_acceptance_temperature_1").asDouble()).isCloseTo(1.0,
                    org.assertj.core.data.Offset.offset(1e-6));
            assertThat(acc.get("greedy_agreement").asDouble()).isEqualTo(1.0);
        }
    }

    @Test
    void aOneHotMixtureIsTheTokenPath() {
        Llama2cConfig cfg = new Llama2cConfig(32, 64, 2, 2, 2, 40, 16, true);
        int[][] tokens = {{3, 7, 11, 39, 0}, {5, 5, 2, 1, 30}};
        try (NDManager m = NDManager.newBaseManager(); LlamaNet net = LlamaNet.init(cfg, 5, m)) {
            int[][] pos = TrainingObjective.sequentialPositions(2, 5);
            NDArray bias = LlamaNet.bias(m, 5, (q, k) -> k <= q);
            float[] viaTokens = net.forward(m, tokens, pos, bias).toFloatArray();
            float[] oneHot = new float[2 * 5 * 40];
            for (int r = 0; r < 2; r++) {
                for (int j = 0; j < 5; j++) {
                    oneHot[(r * 5 + j) * 40 + tokens[r][j]] = 1f;
                }
            }
            float[] viaMixture = net.forwardMixture(m, m.create(oneHot, new Shape(2, 5, 40)), pos, bias)
                    .toFloatArray();
            for (int i = 0; i < viaTokens.length; i++) {
                assertThat(viaMixture[i]).isCloseTo(viaTokens[i], org.assertj.core.data.Offset.offset(1e-5f));
            }
        }
    }

    @Test
    void nextScaleInputsAreTheLevelPlusTheTokenizersFeaturesAndTheMaskIsBlockCausalByScale() {
        Recipe r = tiny("fashion-var.json");
        ImagePriors.Setup s = ImagePriors.setup(r, TRAINED);
        ImageLayout l = s.layout();
        MultiScaleVq vq = s.multiScale();
        NextScaleObjective o = (NextScaleObjective) s.objective();
        float[] image = FashionMnist.load(FashionMnist.Split.TEST).image(0);
        int[] tokens = vq.encode(image);
        int[] window = new int[1 + tokens.length];
        window[0] = l.classToken(9);
        System.arraycopy(tokens, 0, window, 1, tokens.length);
        TrainingObjective.Batch b = o.conditional().batch(new int[][] {window}, new SplittableRandom(1));
        assertThat(b.tokens()[0][0]).isEqualTo(l.classToken(9));
        assertThat(b.targets()[0]).containsExactly(tokens);
        int v = l.vocabSize();
        float[] a = o.inputWeights(b.tokens(), b.targets(), v);
        assertThat(a[l.classToken(9)]).isEqualTo(1f);
        int p = l.scaleStart(3) + 4; // scale 3 (4x4), cell 4 = row 1, column 0
        float[] f = vq.nextScaleInput(tokens, 3);
        assertThat(a[p * v + l.levelToken(3)]).isEqualTo(1f);
        for (int j = 0; j < l.featureDim(); j++) {
            assertThat(a[p * v + l.featureBasisToken(j)]).isEqualTo(f[4 * l.featureDim() + j]);
        }
        assertThat(a[p * v + l.levelToken(2)]).isZero();
        // condition dropout: a rate near 1 replaces the class token of (nearly) every row by the null class
        NextScaleObjective dropping = new NextScaleObjective(l, vq, 0.999);
        int[][] many = new int[64][];
        java.util.Arrays.fill(many, window);
        for (int[] row : dropping.batch(many, new SplittableRandom(2)).tokens()) {
            assertThat(row[0]).isIn(l.nullClassToken(), l.classToken(9));
        }
        assertThat(java.util.Arrays.stream(dropping.batch(many, new SplittableRandom(2)).tokens())
                .filter(row -> row[0] == l.nullClassToken()).count()).isGreaterThan(60);
        try (NDManager m = NDManager.newBaseManager()) {
            float[] bias = o.bias(m, l.tokensPerImage()).toFloatArray();
            int t = l.tokensPerImage();
            int q = l.scaleStart(2);     // first position of scale 2
            assertThat(bias[q * t + l.scaleStart(2) + 8]).isZero();          // same scale, later cell: visible
            assertThat(bias[q * t + 0]).isZero();                            // class token: visible
            assertThat(bias[q * t + l.scaleStart(3)]).isLessThan(-1e8f);     // finer scale: hidden
        }
    }
}
