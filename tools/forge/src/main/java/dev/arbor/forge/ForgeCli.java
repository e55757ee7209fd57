package dev.arbor.forge;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code arbor forge}: build the corpus and tokenizer, train a recipe, evaluate and export it. */
@Command(name = "forge", mixinStandardHelpOptions = true,
        description = "Train the project's tiny reference models (DJL, PyTorch engine, CPU, offline).",
        subcommands = {ForgeCli.CorpusCmd.class, ForgeCli.TrainCmd.class, ForgeCli.ExportCmd.class,
                ForgeCli.JudgeCmd.class, DistillCmd.class})
public final class ForgeCli {

    /** Options every subcommand shares. */
    static class Common {
        @Option(names = "--models", description = "folder holding stories260K/ (the corpus teacher); default "
                + "$ARBOR_MODELS or ../shared/models")
        Path models;

        @Option(names = "--work", description = "working folder for corpus, tokenizer, runs (default: ${DEFAULT-VALUE})",
                defaultValue = "forge-work")
        Path work;

        @Option(names = "--threads", description = "CPU threads for PyTorch (default: all)")
        Integer threads;

        Path modelsRoot() {
            if (models != null) {
                return models;
            }
            String env = System.getenv("ARBOR_MODELS");
            return Path.of(env != null && !env.isBlank() ? env : "../shared/models");
        }

        Forge forge() {
            return new Forge(modelsRoot(), work, threads, System.out::println);
        }

        @Option(names = "--trained", description = "image priors: folder holding fashion-vq/ (default: models/trained "
                + "when it exists, as in the repository, else models, as in an installation)")
        Path trained;

        ImagePriors imagePriors() {
            Path t = trained != null ? trained
                    : java.nio.file.Files.isDirectory(Path.of("models", "trained")) ? Path.of("models", "trained")
                    : Path.of("models");
            return new ImagePriors(work, t, threads, System.out::println);
        }

        LatentPriors latentPriors() {
            return new LatentPriors(work, trained != null ? trained
                    : java.nio.file.Files.isDirectory(Path.of("models", "trained")) ? Path.of("models", "trained")
                    : Path.of("models"), threads, System.out::println);
        }

        LatentFlowPriors latentFlowPriors() {
            Path t = trained != null ? trained
                    : java.nio.file.Files.isDirectory(Path.of("models", "trained")) ? Path.of("models", "trained")
                    : Path.of("models");
            return new LatentFlowPriors(work, t, threads, System.out::println);
        }
    }

    @Command(name = "corpus", description = "Build (or reuse) the distilled corpus of a recipe, train its tokenizer "
            + "and encode the corpus.")
    static final class CorpusCmd implements Callable<Integer> {
        @CommandLine.Mixin
        Common common = new Common();
        @Parameters(index = "0", description = "recipe JSON file")
        Path recipe;
        @Option(names = "--smoke", description = "use the recipe's smoke slice")
        boolean smoke;

        @Override
        public Integer call() throws Exception {
            Recipe r = Recipe.read(recipe);
            if (r.isImagePrior()) {
                throw dev.arbor.api.ArborException.invalid("recipe " + recipe + " trains an image prior: it has no "
                        + "corpus; run 'forge train' (it tokenizes Fashion-MNIST itself)");
            }
            Forge f = common.forge();
            r = smoke ? r.smokeVariant() : r;
            f.corpus(r);
            f.streams(r);
            return 0;
        }
    }

    @Command(name = "train", description = "Train a recipe: corpus, tokenizer, training with progress and "
            + "checkpoints, held-out evaluation, export as llama2.c checkpoint + model card.")
    static final class TrainCmd implements Callable<Integer> {
        @CommandLine.Mixin
        Common common = new Common();
        @Parameters(index = "0", description = "recipe JSON file")
        Path recipe;
        @Option(names = "--smoke", description = "a few steps on a small slice (the recipe's smoke section)")
        boolean smoke;
        @Option(names = "--out", description = "where the exported model goes (default: <work>/runs/<name>/export)")
        Path out;
        @Option(names = "--judge", description = "for the card: a default AR model to measure against (draft "
                + "acceptance rate); a llama2.c checkpoint with its card")
        Path judge;

        @Option(names = "--time-budget", description = "minutes of training at most: the step count is lowered "
                + "to what the measured pace allows (the steps run are recorded)")
        double budgetMinutes;
        @Option(names = "--steps", description = "override the recipe's step count")
        Integer steps;
        @Option(names = "--samples", description = "samples generated for the card (default: ${DEFAULT-VALUE})",
                defaultValue = "100")
        int samples;

        @Override
        public Integer call() throws Exception {
            Recipe r = Recipe.read(recipe);
            r = smoke ? r.smokeVariant() : r;
            if (steps != null) {
                r = r.withSteps(steps);
            }
            if (LatentPriors.handles(r)) {
                LatentPriors p = common.latentPriors();
                p.train(r, budgetMinutes);
                p.export(r, out != null ? out : p.runDir(r).resolve("export"));
                return 0;
            }
            if (LatentFlowPriors.handles(r)) {
                LatentFlowPriors p = common.latentFlowPriors();
                p.train(r, budgetMinutes);
                p.export(r, out != null ? out : p.runDir(r).resolve("export"));
                return 0;
            }
            if (r.isImagePrior()) {
                ImagePriors p = common.imagePriors();
                p.train(r, budgetMinutes);
                p.export(r, out != null ? out : p.runDir(r).resolve("export"), judge, smoke ? 10 : samples);
                return 0;
            }
            Forge f = common.forge();
            f.train(r, out, judge, budgetMinutes);
            f.export(r, out, new Exporter.Measure(smoke ? 3 : samples, smoke ? 32 : 200, true, judge));
            return 0;
        }
    }

    @Command(name = "export", description = "Export a finished run of a recipe: checkpoint, tokenizer, "
            + "<name>.card.json and MODEL_CARD.md, with the export check, samples and measurements.")
    static final class ExportCmd implements Callable<Integer> {
        @CommandLine.Mixin
        Common common = new Common();
        @Parameters(index = "0", description = "recipe JSON file")
        Path recipe;
        @Option(names = "--smoke", description = "the recipe's smoke run")
        boolean smoke;
        @Option(names = "--out", description = "target folder (default: <work>/runs/<name>/export)")
        Path out;
        @Option(names = "--judge", description = "default AR checkpoint to measure a draft's acceptance rate against")
        Path judge;
        @Option(names = "--samples", description = "samples generated for the card (default: ${DEFAULT-VALUE})",
                defaultValue = "100")
        int samples;
        @Option(names = "--no-onnx", description = "skip the ONNX Runtime half of the export check")
        boolean noOnnx;

        @Override
        public Integer call() throws Exception {
            Recipe r = Recipe.read(recipe);
            r = smoke ? r.smokeVariant() : r;
            if (LatentPriors.handles(r)) {
                LatentPriors p = common.latentPriors();
                p.export(r, out != null ? out : p.runDir(r).resolve("export"));
                return 0;
            }
            if (LatentFlowPriors.handles(r)) {
                LatentFlowPriors p = common.latentFlowPriors();
                p.export(r, out != null ? out : p.runDir(r).resolve("export"));
                return 0;
            }
            if (r.isImagePrior()) {
                ImagePriors p = common.imagePriors();
                p.export(r, out != null ? out : p.runDir(r).resolve("export"), judge, smoke ? 10 : samples);
                return 0;
            }
            common.forge().export(r, out, new Exporter.Measure(samples, smoke ? 32 : 200, !noOnnx, judge));
            return 0;
        }
    }

    @Command(name = "judge", mixinStandardHelpOptions = true, description = "Train the Fashion-MNIST classifier behind the image metrics (class "
            + "accuracy, Fréchet distance), measure it on the test set and write it with MODEL_CARD.md.")
    static final class JudgeCmd implements Callable<Integer> {
        @Option(names = "--out", description = "target folder (default: ${DEFAULT-VALUE})",
                defaultValue = "models/trained/fashion-judge")
        Path out;
        @Option(names = "--epochs", defaultValue = "8", description = "epochs (default: ${DEFAULT-VALUE}, the committed "
                + "model's)")
        int epochs;
        @Option(names = "--batch", defaultValue = "128", description = "batch size (default: ${DEFAULT-VALUE})")
        int batch;
        @Option(names = "--lr", defaultValue = "0.001", description = "Adam learning rate (default: ${DEFAULT-VALUE})")
        float lr;
        @Option(names = "--seed", defaultValue = "20261207", description = "seed (default: ${DEFAULT-VALUE})")
        long seed;
        @Option(names = "--train-limit", defaultValue = "0", description = "train on the first N images only "
                + "(0: all 60,000), for timing runs")
        int trainLimit;
        @Option(names = "--threads", description = "CPU threads for PyTorch (default: all)")
        Integer threads;

        @Override
        public Integer call() throws Exception {
            var train = dev.arbor.models.images.FashionMnist.load(dev.arbor.models.images.FashionMnist.Split.TRAIN);
            var test = dev.arbor.models.images.FashionMnist.load(dev.arbor.models.images.FashionMnist.Split.TEST);
            FashionJudgeTraining.Settings s = new FashionJudgeTraining.Settings(epochs, batch, lr, seed, trainLimit);
            FashionJudgeTraining t = new FashionJudgeTraining(System.out::println);
            Path params = out.resolve("fashion-judge.params");
            FashionJudgeTraining.Result r = t.train(train.images(), train.labels(), s, threads, params);
            FashionJudgeTraining.Evaluation e = t.evaluate(params, train.images(), test.images(), test.labels(),
                    threads);
            String command = "arbor forge judge --epochs " + epochs + " --batch " + batch + " --lr " + lr
                    + " --seed " + seed + (trainLimit > 0 ? " --train-limit " + trainLimit : "")
                    + (threads != null ? " --threads " + threads : "") + " --out " + out;
            FashionJudgeTraining.writeCard(out, command, s, r, e, java.nio.file.Files.size(params),
                    DjlSetup.threads());
            return 0;
        }
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new ForgeCli()).execute(args));
    }
}
