package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.generation.nextx.Cells;
import dev.arbor.models.images.FashionMnist;
import dev.arbor.models.images.PatchPcaCodec;
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
 * The continuous-latent prior of the forge (objective latent-flow-cells): what a batch feeds the network and
 * scores (the flow's interpolant, the velocity target, per-cell times, clean context, condition dropout), and a tiny
 * network trained, exported and checked end to end. The real model is trained by the recipe, never here.
 */
class LatentFlowPriorsTest {
    @TempDir
    static Path work;
    static final Path TRAINED = Path.of("..", "..", "models", "trained"); // surefire runs in tools/forge
    static PatchPcaCodec codec;
    static ImageData images;

    @BeforeAll
    static void setUp() {
        assumeTrue(FashionMnist.installed(), "dataset-fashion-mnist is not installed");
        DjlSetup.configure(1);
        Recipe r = Recipe.read(Path.of("recipes", "fashion-xar.json"));
        codec = LatentPriors.codec(r, TRAINED);
        FashionMnist test = FashionMnist.load(FashionMnist.Split.TEST);
        images = ImageData.encode(test.images(), test.labels(), 64, codec.layout(),
                x -> codec.encodeImage(dev.arbor.models.images.PatchGrid.rows(x)));
    }

    @Test
    void aBatchIsTheFlowInterpolantPerCellWithItsVelocityTarget() {
        FlowMatchingLatentObjective o = new FlowMatchingLatentObjective(codec, 0.1);
        ContinuousHead head = o.head();
        assertThat(head.spec()).isEqualTo("VELOCITY:16:0:267:284:33");
        assertThat(o.vocabSize()).isEqualTo(317);
        Cells cells = o.cells();
        int len = 1 + 784;
        int b = 400;
        int[][] windows = new int[b][];
        for (int r = 0; r < b; r++) {
            windows[r] = images.window(r, len);
        }
        TrainingObjective.Batch batch = o.batch(windows, new SplittableRandom(3));
        float[] mix = o.inputWeights(batch);
        int t = 50;
        int v = 317;
        int dropped = 0;
        int cleanRows = 0;
        for (int r = 0; r < b; r++) {
            int cls = batch.tokens()[r][0];
            assertThat(cls).isIn(windows[r][0], codec.layout().nullClassToken());
            dropped += cls == codec.layout().nullClassToken() ? 1 : 0;
            assertThat(mix[(r * t) * v + cls]).isEqualTo(1f);
            float[][] x1 = codec.fromIds(Arrays.copyOfRange(windows[r], 1, len));
            double[] cellTime = new double[cells.count()];
            Arrays.fill(cellTime, Double.NaN);
            boolean clean = false;
            for (int i = 0; i < cells.tokens(); i++) {
                int k = cells.cellOf(i);
                double time = o.time(batch, r, i);
                if (Double.isNaN(cellTime[k])) {
                    cellTime[k] = time;
                }
                assertThat(time).as("one time per cell").isEqualTo(cellTime[k]);
                int row = (r * t + 1 + i) * v;
                float[] xt = o.noisyLatent(batch, r, i);
                double timeWeight = 0;
                for (int s = 0; s < 33; s++) {
                    timeWeight += mix[row + 284 + s];
                }
                assertThat(timeWeight).isCloseTo(1.0, within(1e-6));
                // x_t = t·x_1 + (1 − t)·ε and target x_1 − ε give back x_1 = x_t + (1 − t)·target
                float[] x = x1[cells.rasterIndex(i)];
                float[] target = o.velocityTarget(batch, r, i);
                for (int j = 0; j < 16; j++) {
                    assertThat(mix[row + 267 + j]).isEqualTo(xt[j]);
                    assertThat(xt[j] + (1 - time) * target[j]).isCloseTo(x[j], within(1e-4));
                }
                if (time == 1.0) {
                    clean = true;
                    assertThat(xt).containsExactly(x); // clean context: the data itself
                }
            }
            // the cells before the first noisy one are clean; after it, independent times
            int firstNoisy = 0;
            while (firstNoisy < cells.count() && cellTime[firstNoisy] == 1.0) {
                firstNoisy++;
            }
            for (int k = firstNoisy; k < cells.count(); k++) {
                assertThat(cellTime[k]).isLessThan(1.0);
            }
            cleanRows += clean ? 1 : 0;
        }
        // condition dropout 0.1 and clean context in half the rows, of which 3 in 4 have a clean cell
        assertThat(dropped / (double) b).isCloseTo(0.1, within(0.05));
        assertThat(cleanRows / (double) b).isCloseTo(0.375, within(0.08));
        // the held-out objective never drops the condition
        TrainingObjective.Batch one = o.conditional().batch(windows, new SplittableRandom(9));
        for (int r = 0; r < b; r++) {
            assertThat(one.tokens()[r][0]).isEqualTo(windows[r][0]);
        }
    }

    @Test
    void trainsExportsAndTheExportedFileReproducesTheTrainingNetwork() throws Exception {
        Recipe base = Recipe.read(Path.of("recipes", "fashion-xar.json")).smokeVariant();
        Recipe.Architecture a = new Recipe.Architecture(32, 64, 2, 2, base.model().seqLen(), true);
        Recipe r = new Recipe(base.name(), base.description(), base.seed(), null, null, a, base.objective(),
                base.optimizer(), 24, base.batchSize(), 1, 0, base.evalBatches(), base.smoke(), base.image());
        LatentFlowPriors priors = new LatentFlowPriors(work, TRAINED, 1, line -> { });
        Path runDir = priors.train(r, 0);
        JsonNode run = Json.MAPPER.readTree(runDir.resolve("run.json").toFile());
        assertThat(run.get("skipped_steps").asInt()).isZero();
        // from about 1.2 (zero velocity) the head learns at least the mean flow
        assertThat(run.get("heldout_loss").asDouble()).isLessThan(run.get("train_loss_first").asDouble());
        Path out = priors.export(r, work.resolve("export"));
        Path bin = out.resolve(r.name() + ".bin");
        Llama2cConfig cfg = Llama2cCheckpoint.read(bin).config();
        assertThat(cfg.vocabSize()).isEqualTo(317);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(cfg, bin.toString());
        assertThat(card.alignment()).isEqualTo(LogitAlignment.SAME);
        assertThat(card.continuousHead().spec()).isEqualTo("VELOCITY:16:0:267:284:33");
        JsonNode sidecar = Json.MAPPER.readTree(out.resolve(r.name() + ".card.json").toFile());
        assertThat(sidecar.get("export_check").get("max_abs_logit_diff_reference").asDouble()).isLessThan(1e-4);
        assertThat(sidecar.get("export_check").get("max_abs_logit_diff_incremental").asDouble()).isLessThan(1e-4);
        assertThat(sidecar.get("image").get("cell_sizes")).hasSize(4);
        assertThat(Files.readString(out.resolve("MODEL_CARD.md"))).contains("Held-out flow loss", "Export check");
    }

    /** The committed prior: its card, its vocabulary, and the export check recomputed on the committed file. */
    @Test
    void theCommittedPriorLoadsWithItsCardAndReproducesItsTrainingNetwork() {
        Path bin = TRAINED.resolve("fashion-xar").resolve("fashion-xar.bin");
        Llama2cConfig cfg = Llama2cCheckpoint.read(bin).config();
        assertThat(cfg.vocabSize()).isEqualTo(317);
        assertThat(cfg.dim()).isLessThanOrEqualTo(128);
        assertThat(cfg.nLayers()).isLessThanOrEqualTo(4);
        Llama2cModelCard card = Llama2cModelCard.forCheckpoint(bin).validateAgainst(cfg, bin.toString());
        assertThat(card.alignment()).isEqualTo(LogitAlignment.SAME);
        assertThat(card.continuousHead().spec()).isEqualTo("VELOCITY:16:0:267:284:33");
        int len = 1 + 784;
        int[][] windows = {images.window(0, len), images.window(1, len)};
        windows[1][0] = codec.layout().nullClassToken();
        LatentFlowPriors.Check check = LatentFlowPriors.exportCheck(bin, new FlowMatchingLatentObjective(codec, 0.1),
                windows);
        assertThat(check.fullMaxAbsDiff()).isLessThan(1e-4);
        assertThat(check.incrementalMaxAbsDiff()).isLessThan(1e-4);
    }
}
