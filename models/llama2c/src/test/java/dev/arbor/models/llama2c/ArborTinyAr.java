package dev.arbor.models.llama2c;

import java.nio.file.Files;
import java.nio.file.Path;

/** The committed forge model {@code models/trained/arbor-tiny-ar} (in the repository, so never skipped). */
final class ArborTinyAr {
    private static final Path DIR = Path.of("..", "trained", "arbor-tiny-ar");

    private ArborTinyAr() {
    }

    static Path checkpoint() {
        return existing(DIR.resolve("arbor-tiny-ar.bin"));
    }

    static Path tokenizer() {
        return existing(DIR.resolve("tokenizer.bin"));
    }

    private static Path existing(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new AssertionError("the committed model file " + file.toAbsolutePath() + " is missing");
        }
        return file;
    }
}
