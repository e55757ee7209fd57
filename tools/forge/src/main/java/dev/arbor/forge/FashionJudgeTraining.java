package dev.arbor.forge;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.CosineTracker;
import dev.arbor.api.ArborException;
import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Trains {@link FashionJudge}'s network on Fashion-MNIST: Adam (Kingma and Ba 2015) with a cosine learning-rate
 * decay, softmax cross-entropy, mini-batches drawn from a seeded permutation each epoch. The weights are written in
 * DJL's parameter format; {@link #evaluate} then measures the written file the way users load it.
 */
public final class FashionJudgeTraining {
    /** Hyper-parameters of a run. */
    public record Settings(int epochs, int batchSize, float lr, long seed, int trainLimit) {
        public Settings {
            if (epochs < 1 || batchSize < 1 || !(lr > 0) || trainLimit < 0) {
                throw ArborException.invalid("judge training needs epochs >= 1, batch >= 1, lr > 0 and a "
                        + "non-negative train limit; got epochs " + epochs + ", batch " + batchSize + ", lr " + lr
                        + ", limit " + trainLimit);
            }
        }
    }

    /** What a run measured. */
    public record Result(int images, int steps, double seconds, double[] epochSeconds, float[] epochLoss) {
    }

    /** What the written weights score on the test split. */
    public record Evaluation(double accuracy, double[] classAccuracy, double fdFloor, int halfSize,
                             double fdTrainVsTest, double evalSeconds, long parameterCount) {
    }

    private final Consumer<String> log;

    public FashionJudgeTraining(Consumer<String> log) {
        this.log = log;
    }

    /**
     * Trains on {@code images}/{@code labels} (the first {@code trainLimit} when that is positive) and writes the
     * weights to {@code out}.
     */
    public Result train(float[][] images, int[] labels, Settings s, Integer threads, Path out) throws IOException {
        int n = s.trainLimit() > 0 ? Math.min(s.trainLimit(), images.length) : images.length;
        if (labels.length < n) {
            throw ArborException.invalid("judge training: " + images.length + " images but " + labels.length
                    + " labels");
        }
        DjlSetup.configure(threads);
        Engine.getInstance().setRandomSeed((int) s.seed());
        int stepsPerEpoch = n / s.batchSize(); // the last partial batch is dropped: every step sees a full batch
        int steps = stepsPerEpoch * s.epochs();
        double[] epochSeconds = new double[s.epochs()];
        float[] epochLoss = new float[s.epochs()];
        long start = System.nanoTime();
        try (Model model = Model.newInstance("fashion-judge")) {
            model.setBlock(FashionJudge.network());
            DefaultTrainingConfig config = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optDevices(new Device[] {Device.cpu()})
                    .optOptimizer(Optimizer.adam().optLearningRateTracker(CosineTracker.builder()
                            .setBaseValue(s.lr()).optFinalValue(s.lr() / 100).setMaxUpdates(steps).build())
                            .build());
            try (ai.djl.training.Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(FashionJudge.inputShape(s.batchSize()));
                SplittableRandom rng = new SplittableRandom(s.seed());
                int[] order = new int[n];
                for (int e = 0; e < s.epochs(); e++) {
                    long epochStart = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        order[i] = i;
                    }
                    for (int i = n - 1; i > 0; i--) { // Fisher-Yates with the run's seed
                        int j = rng.nextInt(i + 1);
                        int t = order[i];
                        order[i] = order[j];
                        order[j] = t;
                    }
                    double lossSum = 0;
                    for (int b = 0; b < stepsPerEpoch; b++) {
                        float[][] xs = new float[s.batchSize()][];
                        float[] ys = new float[s.batchSize()];
                        for (int i = 0; i < s.batchSize(); i++) {
                            int k = order[b * s.batchSize() + i];
                            xs[i] = images[k];
                            ys[i] = labels[k];
                        }
                        try (NDManager scope = trainer.getManager().newSubManager()) {
                            NDArray x = scope.create(FashionJudge.pack(xs, 0, xs.length),
                                    FashionJudge.inputShape(xs.length));
                            NDArray y = scope.create(ys);
                            try (GradientCollector gc = trainer.newGradientCollector()) {
                                NDList pred = trainer.forward(new NDList(x));
                                NDArray loss = trainer.getLoss().evaluate(new NDList(y), pred);
                                gc.backward(loss);
                                lossSum += loss.getFloat();
                            }
                            trainer.step();
                        }
                        if ((b + 1) % 100 == 0) {
                            double secs = (System.nanoTime() - epochStart) / 1e9;
                            log.accept(String.format("epoch %d/%d step %d/%d  loss %.4f  %.0f images/s",
                                    e + 1, s.epochs(), b + 1, stepsPerEpoch, lossSum / (b + 1),
                                    (b + 1) * s.batchSize() / secs));
                        }
                    }
                    epochSeconds[e] = (System.nanoTime() - epochStart) / 1e9;
                    epochLoss[e] = (float) (lossSum / stepsPerEpoch);
                    log.accept(String.format("epoch %d/%d done in %.1f s, mean loss %.4f", e + 1, s.epochs(),
                            epochSeconds[e], epochLoss[e]));
                }
            }
            Files.createDirectories(out.toAbsolutePath().getParent());
            try (OutputStream o = new BufferedOutputStream(Files.newOutputStream(out))) {
                model.getBlock().saveParameters(new DataOutputStream(o));
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        log.accept(String.format("wrote %s after %.1f s of training", out, seconds));
        return new Result(n, steps, seconds, epochSeconds, epochLoss);
    }

    /**
     * Loads {@code params} as users do and measures it on the test split: accuracy (overall and per class), the
     * real-vs-real Fréchet floor between the two disjoint halves of the test set, and the Fréchet distance between
     * the first {@code testImages.length} training images and the test set (same sample size).
     */
    public Evaluation evaluate(Path params, float[][] trainImages, float[][] testImages, int[] testLabels,
                               Integer threads) {
        long t0 = System.nanoTime();
        try (FashionJudge judge = FashionJudge.load(params, threads)) {
            int[] predicted = judge.predict(testImages);
            double evalSeconds = (System.nanoTime() - t0) / 1e9;
            int[] right = new int[FashionJudge.CLASSES];
            int[] count = new int[FashionJudge.CLASSES];
            int total = 0;
            for (int i = 0; i < testLabels.length; i++) {
                count[testLabels[i]]++;
                if (predicted[i] == testLabels[i]) {
                    right[testLabels[i]]++;
                    total++;
                }
            }
            double[] perClass = new double[FashionJudge.CLASSES];
            for (int k = 0; k < perClass.length; k++) {
                perClass[k] = count[k] == 0 ? Double.NaN : (double) right[k] / count[k];
            }
            float[][] testFeatures = judge.features(testImages);
            int half = testFeatures.length / 2;
            double floor = FrechetDistance.between(java.util.Arrays.copyOfRange(testFeatures, 0, half),
                    java.util.Arrays.copyOfRange(testFeatures, half, 2 * half));
            float[][] trainFeatures = judge.features(java.util.Arrays.copyOfRange(trainImages, 0,
                    Math.min(trainImages.length, testImages.length)));
            double trainVsTest = FrechetDistance.between(trainFeatures, testFeatures);
            Evaluation ev = new Evaluation((double) total / testLabels.length, perClass, floor, half, trainVsTest,
                    evalSeconds, judge.parameterCount());
            log.accept(String.format("test accuracy %.4f (%d images, %.1f s); Fréchet floor (test halves, %d vs %d) "
                            + "%.4f; train vs test %.4f", ev.accuracy(), testLabels.length, evalSeconds, half, half,
                    floor, trainVsTest));
            return ev;
        }
    }

    /** Writes MODEL_CARD.md next to the weights, from what the run measured. */
    public static void writeCard(Path dir, String command, Settings s, Result r, Evaluation e, long paramBytes,
                                 int threads) throws IOException {
        StringBuilder b = new StringBuilder();
        b.append("# fashion-judge: the Fashion-MNIST classifier behind Arbor's image metrics\n\n");
        b.append("Generated by `").append(command).append("` (tools/forge, `FashionJudgeTraining`); loaded by ")
                .append("`dev.arbor.forge.FashionJudge` (predict, features, accuracy) and used with ")
                .append("`dev.arbor.forge.FrechetDistance`.\n\n");
        b.append("## Use\n\n");
        b.append("- Class accuracy of generated images: `FashionJudge.accuracy(images, labels)` (images are 784 ")
                .append("floats in [0, 1], row-major 28x28, pixel / 255 as `FashionMnist` reads them).\n");
        b.append("- Fréchet distance: `FrechetDistance.between(judge.features(generated), judge.features(test))` on ")
                .append("the 128-wide penultimate layer (after ReLU). Compare only at equal sample sizes: the ")
                .append("real-vs-real floor below is for 5,000 vs 5,000.\n\n");
        b.append("## Network\n\n");
        b.append("conv3x3 32 (pad 1), ReLU, maxpool 2 → conv3x3 64 (pad 1), ReLU, maxpool 2 → dropout 0.25 → dense ")
                .append("128, ReLU (**features**) → dropout 0.5 → dense 10. ")
                .append(String.format("%,d parameters, fp32, DJL parameter file `fashion-judge.params` (%,d bytes).%n%n",
                        e.parameterCount(), paramBytes));
        b.append("## Training\n\n");
        b.append(String.format("Data: Fashion-MNIST (Debian package `dataset-fashion-mnist`, MIT), %,d training "
                + "images. Adam, learning rate %.1e with cosine decay to %.1e over %,d steps, batch %d, %d epochs, "
                + "softmax cross-entropy, seed %d (weights, dropout and data order). DJL %s, PyTorch engine on "
                + "CPU, %d thread%s.%n%n", r.images(), s.lr(), s.lr() / 100, r.steps(), s.batchSize(), s.epochs(),
                s.seed(), ai.djl.engine.Engine.getDjlVersion(), threads, threads == 1 ? "" : "s"));
        b.append(String.format("Training time: %.1f s on a 2-core machine shared with other jobs.%n%n", r.seconds()));
        b.append("| epoch | seconds | mean training loss |\n|---|---|---|\n");
        for (int i = 0; i < r.epochSeconds().length; i++) {
            b.append(String.format("| %d | %.1f | %.4f |%n", i + 1, r.epochSeconds()[i], r.epochLoss()[i]));
        }
        b.append("\n## Measured on the 10,000 test images\n\n");
        b.append(String.format("**Test accuracy: %.4f** (inference on all 10,000 images: %.1f s).%n%n", e.accuracy(),
                e.evalSeconds()));
        b.append("| class | accuracy |\n|---|---|\n");
        for (int k = 0; k < e.classAccuracy().length; k++) {
            b.append(String.format("| %d %s | %.3f |%n", k,
                    dev.arbor.models.images.FashionMnist.className(k), e.classAccuracy()[k]));
        }
        b.append(String.format("%n**Fréchet distance, real vs real (floor):** %.4f between the two disjoint halves "
                + "of the test set (%,d vs %,d images, in file order). A generator's distance at this sample size "
                + "is to be read against this floor.%n%n", e.fdFloor(), e.halfSize(), e.halfSize()));
        b.append(String.format("Fréchet distance between the first 10,000 training images and the 10,000 test "
                + "images: %.4f.%n%n", e.fdTrainVsTest()));
        b.append("Weights: Apache-2.0. Checked by `FashionJudgeTest` (tools/forge): accuracy >= 0.90 on the test ")
                .append("set, feature shape, Fréchet distance of test halves against a noised and shifted set.\n");
        Files.writeString(dir.resolve("MODEL_CARD.md"), b.toString());
    }
}
