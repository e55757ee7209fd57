package dev.arbor.watermark.lbw.internal;

import dev.arbor.models.images.VqImageTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The committed Fashion-MNIST tokenizers ({@code models/trained/fashion-vq}) through the {@code image-vq} provider's
 * own {@link VqImageTokenizer}, for the tests and the robustness harness.
 */
final class CommittedTokenizers {
    static final Path PATCH = Path.of("models/trained/fashion-vq/fashion-patch-vq.bin");
    static final Path MULTI_SCALE = Path.of("models/trained/fashion-vq/fashion-msvq.bin");

    private CommittedTokenizers() {
    }

    /** The committed patch VQ (raster, scale 7). */
    static VqImageTokenizer committed() {
        return VqImageTokenizer.read(find(PATCH), VqImageTokenizer.FASHION_CLASSES);
    }

    /** The committed multi-scale residual VQ (next-scale, scales 1, 2, 3, 4, 5, 7). */
    static VqImageTokenizer committedMultiScale() {
        return VqImageTokenizer.read(find(MULTI_SCALE), VqImageTokenizer.FASHION_CLASSES);
    }

    /** {@code file} under the module's directory or one above it (the repository root). */
    private static Path find(Path file) {
        for (Path base = Path.of("").toAbsolutePath(); base != null; base = base.getParent()) {
            if (Files.isRegularFile(base.resolve(file))) {
                return base.resolve(file);
            }
        }
        throw new IllegalStateException(file + " not found above " + Path.of("").toAbsolutePath());
    }
}
