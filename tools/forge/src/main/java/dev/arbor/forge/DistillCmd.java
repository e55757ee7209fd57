package dev.arbor.forge;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code arbor forge distill <recipe>}: Distilled Decoding's pairs, student training and export. */
@Command(name = "distill", mixinStandardHelpOptions = true, description = "Distilled Decoding: generate (noise, "
        + "teacher tokens) pairs with the teacher flow map, train the one/two-step student, export it with its card.")
final class DistillCmd implements Callable<Integer> {
    @CommandLine.Mixin
    ForgeCli.Common common = new ForgeCli.Common();
    @Parameters(index = "0", description = "distill recipe JSON file (e.g. forge/recipes/fashion-dd.json)")
    Path recipe;
    @Option(names = "--out", description = "where the exported model goes (default: <work>/runs/<name>/export)")
    Path out;
    @Option(names = "--reuse-pairs", description = "reuse the pairs a previous run of the recipe wrote")
    boolean reusePairs;
    @Option(names = "--images", description = "override the recipe's training image count")
    Integer images;
    @Option(names = "--heldout-images", description = "override the recipe's held-out image count")
    Integer heldout;
    @Option(names = "--steps", description = "override the recipe's step count")
    Integer steps;
    @Option(names = "--generation-budget", description = "override the recipe's pair-generation budget (minutes)")
    Double generationBudget;
    @Option(names = "--time-budget", description = "override the recipe's training budget (minutes)")
    Double trainBudget;

    @Override
    public Integer call() throws Exception {
        DistilledDecoding.DistillRecipe r = DistilledDecoding.DistillRecipe.read(recipe);
        DistilledDecoding.DistillRecipe.Teacher t = r.teacher();
        t = new DistilledDecoding.DistillRecipe.Teacher(t.model(), t.tokenizer(), t.guidanceScale(), t.temperature(),
                t.topK(), t.topP(), t.flowSteps(), images != null ? images : t.images(),
                heldout != null ? heldout : t.heldoutImages(),
                generationBudget != null ? generationBudget : t.timeBudgetMinutes());
        r = new DistilledDecoding.DistillRecipe(r.name(), r.description(), r.seed(), t, r.model(),
                r.secondStepFraction(), r.evalSplit(), r.optimizer(), steps != null ? steps : r.steps(), r.batchSize(),
                r.logEvery(), r.checkpointEvery(), trainBudget != null ? trainBudget : r.timeBudgetMinutes());
        Path trained = common.trained != null ? common.trained
                : java.nio.file.Files.isDirectory(Path.of("models", "trained")) ? Path.of("models", "trained")
                : Path.of("models");
        DistilledDecoding dd = new DistilledDecoding(common.work, trained, common.threads, System.out::println);
        dd.run(r, out != null ? out : common.work.resolve("runs").resolve(r.name()).resolve("export"), reusePairs);
        return 0;
    }
}
