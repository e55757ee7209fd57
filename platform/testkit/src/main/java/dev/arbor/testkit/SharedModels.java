package dev.arbor.testkit;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

/**
 * Locates the reference models that tests read (never copy) from {@code ../shared/models}. The folder comes from
 * the {@code arbor.models} system property (Surefire sets it) or the {@code ARBOR_MODELS} environment variable.
 * On a user's fresh clone the folder may be missing: tests that need it are then skipped with a message, unless
 * {@code arbor.requireModels=true} (CI), where a missing file fails the test so conformance can never skip silently.
 */
public final class SharedModels {
    private SharedModels() {
    }

    /** The models folder, or null when it is not configured or does not exist. */
    public static Path root() {
        String configured = System.getProperty("arbor.models", System.getenv("ARBOR_MODELS"));
        if (configured == null || configured.isBlank()) {
            return null;
        }
        Path root = Path.of(configured).toAbsolutePath().normalize();
        return Files.isDirectory(root) ? root : null;
    }

    /** True when CI demands that conformance tests run. */
    public static boolean required() {
        return Boolean.parseBoolean(System.getProperty("arbor.requireModels",
                System.getenv().getOrDefault("ARBOR_REQUIRE_MODELS", "false")));
    }

    /** The file at {@code relative} under the models folder; skips (or fails, in CI) the calling test if absent. */
    public static Path require(String relative) {
        Path root = root();
        Path file = root == null ? null : root.resolve(relative);
        if (file == null || !Files.exists(file)) {
            String message = "reference model file '" + relative + "' not found (arbor.models="
                    + System.getProperty("arbor.models", System.getenv("ARBOR_MODELS"))
                    + "); the shared models folder is needed for this conformance test";
            if (required()) {
                Assertions.fail(message + " and arbor.requireModels=true forbids skipping");
            }
            Assumptions.abort(message);
        }
        return file;
    }
}
