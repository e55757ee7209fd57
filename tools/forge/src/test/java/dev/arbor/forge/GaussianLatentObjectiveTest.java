package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDManager;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.models.llama2c.Llama2cConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Gaussian latent objective on synthetic latents (no dataset): its loss is the mean Gaussian NLL of the head's
 * columns with the clamped log-variance, condition dropout swaps the class for the null class, and a tiny network
 * learns the class-dependent latents (the loss falls far below the NLL of the data's marginal).
 */
class GaussianLatentObjectiveTest {
    @TempDir
    static Path work;
    /** 2 codes, classes a and b, one 3x3 scale (9 tokens), latent tokens of 2 values. */
    static final ImageLayout LAYOUT = new ImageLayout(3, 3, 2, List.of("a", "b"), new int[] {3}, 2);
    static final int TOKENS = 6;

    @BeforeAll
    static void setUp() {
        DjlSetup.configure(1);
    }

    /** Image i of class i % 2: token p has values ±(0.5 + 0.1 p) (sign by class) plus noise of std 0.05. */
    static LatentData data(int images, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        float[][][] x = new float[images][TOKENS][2];
        int[] classes = new int[images];
        for (int i = 0; i < images; i++) {
            int k = i % 2;
            classes[i] = LAYOUT.classToken(k);
            for (int p = 0; p < TOKENS; p++) {
                for (int j = 0; j < 2; j++) {
                    x[i][p][j] = (float) ((k == 0 ? 1 : -1) * (0.5 + 0.1 * p) * (j == 0 ? 1 : -1)
                            + 0.05 * rng.nextGaussian());
                }
            }
        }
        return LatentData.of(x, classes);
    }

    static Recipe recipe(int steps) {
        return new Recipe("latent-test", "test", 5, null, null, new Recipe.Architecture(32, 64, 2, 2, TOKENS, true),
                new Recipe.Objective(GaussianLatentObjective.KIND, 0, 0),
                new Recipe.Optimizer(3e-3, 3e-3, 0, 0.0, 0.9, 0.95, 1.0), steps, 16, 1000, 0, 2,
                new Recipe.Smoke(steps, 16, TOKENS, 0, 0, 3e-3), new Recipe.ImageSpec("none", 0.1, 0, 0));
    }

    @Test
    void lossIsTheMeanGaussianNllOfTheHeadColumns() {
        LatentData d = data(8, 1);
        GaussianLatentObjective o = new GaussianLatentObjective(LAYOUT, d, 0);
        Llama2cConfig cfg = new Llama2cConfig(16, 32, 1, 2, 2, LAYOUT.vocabSize(), TOKENS, true);
        try (NDManager manager = NDManager.newBaseManager(); LlamaNet net = LlamaNet.init(cfg, 3, manager)) {
            TrainingObjective.Batch batch = o.batch(new int[][] {d.window(0, 2), d.window(1, 2)},
                    new SplittableRandom(0));
            float[] logits = o.logits(net, manager, batch).toFloatArray();
            double loss = o.loss(net, manager, batch).getFloat();
            double sum = 0;
            int v = cfg.vocabSize();
            for (int r = 0; r < 2; r++) {
                for (int p = 0; p < TOKENS; p++) {
                    for (int j = 0; j < 2; j++) {
                        double mu = logits[(r * TOKENS + p) * v + j];
                        double lv = Math.max(-9, Math.min(4, logits[(r * TOKENS + p) * v + 2 + j]));
                        double x = d.latents(r)[p][j];
                        sum += 0.5 * (lv + (x - mu) * (x - mu) / Math.exp(lv) + Math.log(2 * Math.PI));
                    }
                }
            }
            assertThat(loss).isCloseTo(sum / (2 * TOKENS * 2), within(1e-4));
        }
    }

    @Test
    void conditionDropoutReplacesTheClassByTheNullClass() {
        LatentData d = data(4, 1);
        int[][] windows = {d.window(0, 2), d.window(1, 2), d.window(2, 2), d.window(3, 2)};
        TrainingObjective.Batch none = new GaussianLatentObjective(LAYOUT, d, 0).batch(windows,
                new SplittableRandom(0));
        TrainingObjective.Batch all = new GaussianLatentObjective(LAYOUT, d, 0.999999).batch(windows,
                new SplittableRandom(0));
        for (int r = 0; r < 4; r++) {
            assertThat(none.tokens()[r][0]).isEqualTo(d.classToken(r));
            assertThat(all.tokens()[r][0]).isEqualTo(LAYOUT.nullClassToken());
            assertThat(none.targets()[r][0]).isEqualTo(r);
        }
        // the inputs after the class token are the previous latent token on the basis columns
        float[] w = new GaussianLatentObjective(LAYOUT, d, 0).inputWeights(none.tokens(), new int[] {1, 0, 2, 3},
                LAYOUT.vocabSize());
        int v = LAYOUT.vocabSize();
        assertThat(w[(TOKENS + 3) * v + LAYOUT.featureBasisToken(1)]).isEqualTo(d.latents(0)[2][1]);
        assertThat(w[3 * v + LAYOUT.featureBasisToken(0)]).isEqualTo(d.latents(1)[2][0]);
    }

    @Test
    void aTinyNetworkLearnsTheClassDependentLatents() throws Exception {
        LatentData train = data(256, 2);
        Recipe r = recipe(150);
        GaussianLatentObjective o = new GaussianLatentObjective(LAYOUT, train, r.image().condDropout());
        Llama2cConfig cfg = new Llama2cConfig(32, 64, 2, 2, 2, LAYOUT.vocabSize(), TOKENS, true);
        List<String> log = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager(); LlamaNet net = LlamaNet.init(cfg, 5, manager)) {
            List<Float> losses = new Trainer(r, net, o, manager, log::add).run(train, manager, null);
            LatentData test = data(64, 3);
            double held = Trainer.heldOutLoss(net, o.conditional(test), test, TOKENS, 16, 4, 5, manager);
            // the class-marginal of a value is a mixture at ±(0.5 + 0.1 p): a Gaussian fit of it costs > 0.5 nats;
            // the conditional law N(±m, 0.05²) costs -1.58 nats: the network must have learned the class and position
            assertThat(losses.get(0)).isGreaterThan(0.5f);
            assertThat(held).as("held-out NLL after %d steps (first step %.3f)", losses.size(), losses.get(0))
                    .isLessThan(-0.5);
        }
    }
}
