package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/arbor version} in the installation as shipped (the API a bundle of its own, not the test class path):
 * it lists every package the API bundle exports, {@code dev.arbor.backend.support} included, at the versions of
 * that bundle's manifest, and the API bundle is the artifact whose Maven version follows its packages.
 */
class ArborVersionIT {
    @TempDir
    Path work;

    /** The API's packages and versions as its manifest exports them (name to version). */
    static Map<String, String> apiExports() {
        Map<String, String> out = new LinkedHashMap<>();
        for (String clause : RuntimeHarness.API_PACKAGES.split(",")) {
            String[] nameVersion = clause.split(";version=");
            out.put(nameVersion[0], nameVersion[1]);
        }
        return out;
    }

    @Test
    void listsEveryPackageTheApiBundleExports() throws Exception {
        Path dist = Path.of(System.getProperty("arbor.dist"));
        String apiVersion;
        try (JarFile api = new JarFile(dist.resolve("bundles/arbor-api.jar").toFile())) {
            apiVersion = api.getManifest().getMainAttributes().getValue("Bundle-Version");
        }
        ProcessBuilder pb = new ProcessBuilder(dist.resolve("bin/arbor").toString(), "version")
                .directory(work.toFile());
        Path err = work.resolve("stderr.txt");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("bin/arbor version finished").isTrue();
        assertThat(p.exitValue()).as("exit status; stderr:%n%s", Files.readString(err)).isZero();

        assertThat(out).startsWith("Arbor 0.1.0").contains("API packages:");
        Map<String, String> exported = apiExports();
        assertThat(exported).containsKey("dev.arbor.backend.support");
        exported.forEach((name, version) -> assertThat(out).containsPattern("(?m)^  " + Pattern.quote(name) + " +"
                + Pattern.quote(version) + " +\\(dev\\.arbor\\.api " + Pattern.quote(apiVersion) + "\\)$"));
        assertThat(out.lines().filter(l -> l.startsWith("  dev.")).count()).as("one line per package:%n%s", out)
                .isEqualTo(exported.size());
    }
}
