package dev.arbor.tests.diffusion;

import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/** The forge's trained models for these tests: skipped with a message when absent, failed under CI's flag. */
final class Trained {
    private Trained() {
    }

    /**
     * The trained models, all four present; otherwise the calling test is skipped, or fails when
     * {@code arbor.requireModels=true} (CI), so the conformance of the diffusion strategies never skips silently.
     */
    static TrainedModels require() {
        TrainedModels models = TrainedModels.located();
        List<Path> missing = models.missing(TrainedModels.MDLM, TrainedModels.BD, TrainedModels.AR,
                TrainedModels.DRAFT);
        if (!missing.isEmpty()) {
            String message = "the model forge's trained models are not in " + models.root() + " (missing "
                    + missing + "); they are committed under models/trained by the forge (tools/forge, `arbor "
                    + "forge train tools/forge/recipes/<recipe>.json --out models/trained/<name>`); point "
                    + "-Darbor.trained=<folder> elsewhere to use another copy";
            if (SharedModels.required()) {
                Assertions.fail(message + ", and arbor.requireModels=true forbids skipping");
            }
            Assumptions.abort(message);
        }
        return models;
    }
}
