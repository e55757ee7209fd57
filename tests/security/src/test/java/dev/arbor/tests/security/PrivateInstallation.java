package dev.arbor.tests.security;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * A copy of the assembled installation whose {@code etc/} and {@code deploy/} belong to one test (code, bundles and
 * the model cache are links to the build's), so a test may change the trust policy or pipeline files freely.
 */
final class PrivateInstallation {
    private PrivateInstallation() {
    }

    static Path of(Path dist) throws IOException {
        Path home = Files.createTempDirectory("arbor-security-home-");
        for (String shared : List.of("bin", "bundles", "lib", "models", "forge", "launcher.jar", "cache")) {
            if (Files.exists(dist.resolve(shared))) {
                Files.createSymbolicLink(home.resolve(shared), dist.resolve(shared).toAbsolutePath());
            }
        }
        try (Stream<Path> walk = Files.walk(dist.resolve("etc"))) {
            for (Path p : walk.toList()) {
                Path to = home.resolve("etc").resolve(dist.resolve("etc").relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(to);
                } else if (!p.getFileName().toString().startsWith("admin")) {
                    Files.copy(p, to);
                }
            }
        }
        Files.createDirectories(home.resolve("deploy"));
        return home;
    }

    /** Deletes what {@link #of} made (links are removed, never followed). */
    static void delete(Path home) throws IOException {
        if (home == null || !Files.exists(home)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(home)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
