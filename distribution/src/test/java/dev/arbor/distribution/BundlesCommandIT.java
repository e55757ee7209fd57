package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.testkit.framework.RuntimeHarness;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator's view from the shell, each a real {@code bin/arbor} process on an installation whose deploy/ holds
 * three builds of one plugin and a stranger: {@code arbor trust add} writes the digests with their comments, {@code
 * arbor trust list} shows which deploy/ file has each, and {@code arbor bundles} shows what {@code /admin/bundles}
 * shows: why the newest build stays installed (built against another API), that the middle one serves meanwhile,
 * and the files not installed with their cause (the oldest superseded, the stranger not trusted).
 */
class BundlesCommandIT {
    private static final String RUNNER_UP = "dev.arbor.test.runnerup";

    record Run(int status, String out, String err) {
    }

    @Test
    void trustAndBundlesCommandsShowWhatRunsFromDeployAndWhyTheRestDoesNot(@TempDir Path home, @TempDir Path target)
            throws Exception {
        Path dist = Path.of(System.getProperty("arbor.dist", "target/arbor")).toAbsolutePath();
        Files.createSymbolicLink(home.resolve("bundles"), dist.resolve("bundles"));
        Path deploy = Files.createDirectories(home.resolve("deploy"));
        Path trust = home.resolve("etc/trust/trusted-bundles.sha256");
        Files.createDirectories(trust.getParent());
        Files.copy(dist.resolve("etc/trust/trusted-bundles.sha256"), trust);
        String header = Files.readString(trust);
        Path built = Path.of(System.getProperty("arbor.testBundles", "target/test-bundles"), "runner-up-selector.jar");
        Path v100 = TestJars.withVersion(built, deploy.resolve("runner-up-1.0.0.jar"), "1.0.0");
        Path v101 = TestJars.withVersion(built, deploy.resolve("runner-up-1.0.1.jar"), "1.0.1");
        Path v200 = deploy.resolve("runner-up-2.0.0.jar");
        TestJars.withImportRange(TestJars.withVersion(built, target.resolve("v200.jar"), "2.0.0"),
                "dev.arbor.api.sampling", "[2.0,3)", v200);
        Path stranger = TestJars.withVersion(built, deploy.resolve("stranger.jar"), "6.6.6");

        Run added = arbor(dist, home, "trust", "add", v100.toString(), v101.toString(), v200.toString());
        assertThat(added.status()).as(added.err()).isZero();
        String today = LocalDate.now().toString();
        assertThat(Files.readString(trust)).startsWith(header)
                .contains(RuntimeHarness.sha256(v100) + "  runner-up-1.0.0.jar (" + RUNNER_UP + " 1.0.0, trusted "
                        + today + ")")
                .contains(RuntimeHarness.sha256(v200) + "  runner-up-2.0.0.jar (" + RUNNER_UP + " 2.0.0, trusted "
                        + today + ")");

        Run listed = arbor(dist, home, "trust", "list");
        assertThat(listed.status()).as(listed.err()).isZero();
        assertThat(listed.out()).contains(trust + ": 3 trusted digest(s)")
                .contains(RuntimeHarness.sha256(v101) + "  runner-up-1.0.1.jar (" + RUNNER_UP + " 1.0.1, trusted "
                        + today + ")\n    in deploy/runner-up-1.0.1.jar (" + RUNNER_UP + " 1.0.1)")
                .contains("not trusted, in deploy/")
                .contains("stranger.jar (" + RUNNER_UP + " 6.6.6)  " + RuntimeHarness.sha256(stranger));

        Run bundles = arbor(dist, home, "bundles");
        assertThat(bundles.status()).as(bundles.err()).isZero();
        List<String> lines = Arrays.asList(bundles.out().split("\n"));
        int newest = indexOf(lines, RUNNER_UP + " ", "2.0.0");
        assertThat(lines.get(newest)).contains("installed");
        assertThat(lines.get(newest + 1).strip()).isEqualTo("deploy/runner-up-2.0.0.jar (" + RUNNER_UP + " 2.0.0)"
                + " does not resolve: it imports dev.arbor.api.sampling [2.0.0,3.0.0) but this installation exports"
                + " 1.2.0; rebuild it against the installed API");
        assertThat(lines.get(indexOf(lines, RUNNER_UP + " ", "1.0.1"))).contains("active");
        assertThat(lines.get(indexOf(lines, RUNNER_UP + " ", "1.0.1") + 1)).contains("provides")
                .contains("'sample'");
        assertThat(lines).as("1.0.0 is not installed").noneMatch(l -> l.matches(
                "\\s*\\d+ \\S+\\s+" + java.util.regex.Pattern.quote(RUNNER_UP) + "\\s+1\\.0\\.0"));
        assertThat(bundles.out()).contains("  - refused    runner-up-1.0.0.jar: not installed: superseded by"
                        + " deploy/runner-up-1.0.1.jar (" + RUNNER_UP + " 1.0.1, a higher version of the same bundle);"
                        + " delete this file, or delete deploy/runner-up-1.0.1.jar to go back to 1.0.0")
                .contains("  - refused    stranger.jar: its SHA-256 " + RuntimeHarness.sha256(stranger)
                        + " is not trusted; to trust it, add");
    }

    @Test
    @SuppressWarnings("unchecked")
    void anInstallationWithoutTheDeployBundleStillListsBundlesAndTheTrustCommandSaysWhatIsMissing(@TempDir Path home)
            throws Exception {
        // the runtime imports the deploy bundle's package optionally: it must resolve and serve its commands without it
        try (RuntimeHarness runtime = new RuntimeHarness(home, null,
                java.util.Map.of("arbor.launcher.skip", "arbor-api\\.jar|arbor-deploy\\.jar"))) {
            assertThat(Arrays.stream(runtime.context().getBundles()).map(b -> b.getSymbolicName()))
                    .doesNotContain("dev.arbor.platform.deploy");
            org.osgi.framework.ServiceReference<?>[][] refs = {null};
            RuntimeHarness.await(() -> {
                try {
                    refs[0] = runtime.context().getAllServiceReferences(java.util.function.Function.class.getName(),
                            "(arbor.command=cli)");
                } catch (org.osgi.framework.InvalidSyntaxException e) {
                    throw new IllegalStateException(e);
                }
                return refs[0] != null;
            }, 20_000, () -> "the runtime offered no command line without the deploy bundle");
            var cli = (java.util.function.Function<String[], Integer>) runtime.context().getService(refs[0][0]);
            assertThat(cli.apply(new String[] {"bundles"})).isZero();
            assertThat(cli.apply(new String[] {"trust", "list"})).as("UNAVAILABLE").isEqualTo(3);
        }
    }

    private static int indexOf(List<String> lines, String... parts) {
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (Arrays.stream(parts).allMatch(line::contains)) {
                return i;
            }
        }
        throw new AssertionError("no line with " + Arrays.toString(parts) + " in:\n" + String.join("\n", lines));
    }

    private static Run arbor(Path dist, Path home, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(dist.resolve("bin/arbor").toString(), "--home", home.toString()));
        cmd.addAll(Arrays.asList(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        Path err = Files.createTempFile(home, "stderr", ".txt");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(180, TimeUnit.SECONDS)).as("bin/arbor %s finished", String.join(" ", args)).isTrue();
        return new Run(p.exitValue(), out, Files.readString(err));
    }
}
