package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.platform.deploy.BundleFile;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code arbor trust add|list|revoke} on a trust file and a deploy folder. */
class TrustCommandTest {
    private static final String HEADER = "# Bundles trusted to run from deploy/.\n# my own note\n";
    private static final Clock DAY = Clock.fixed(Instant.parse("2026-12-07T12:00:00Z"), ZoneOffset.UTC);

    @TempDir
    Path dir;
    Path trust;
    Path deploy;
    Path target;
    final ByteArrayOutputStream printed = new ByteArrayOutputStream();

    @BeforeEach
    void layout() throws Exception {
        trust = dir.resolve("etc/trust/trusted-bundles.sha256");
        deploy = dir.resolve("deploy");
        target = dir.resolve("target");
        Files.createDirectories(trust.getParent());
        Files.createDirectories(deploy);
        Files.createDirectories(target);
        Files.writeString(trust, HEADER);
    }

    private String run(String... args) throws Exception {
        return run(true, args);
    }

    /** Runs the command; what it throws is thrown here (picocli itself would print it and return 1). */
    private String run(boolean available, String... args) throws Exception {
        printed.reset();
        CommandLine cli = TrustCommand.create(trust, deploy, DAY, () -> available, new PrintStream(printed, true,
                StandardCharsets.UTF_8));
        Exception[] thrown = {null};
        cli.setExecutionExceptionHandler((e, c, p) -> {
            thrown[0] = e;
            return 1;
        });
        int status = cli.execute(args);
        if (thrown[0] != null) {
            throw thrown[0];
        }
        assertThat(status).isZero();
        return printed.toString(StandardCharsets.UTF_8);
    }

    /** A bundle jar {@code name} with the given identity; {@code salt} changes its bytes (another build). */
    private Path bundle(Path folder, String name, String symbolicName, String version, String salt) throws Exception {
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        if (symbolicName != null) {
            m.getMainAttributes().putValue("Bundle-SymbolicName", symbolicName);
            m.getMainAttributes().putValue("Bundle-Version", version);
        }
        Path jar = folder.resolve(name);
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), m)) {
            out.putNextEntry(new JarEntry("salt.txt"));
            out.write(salt.getBytes(StandardCharsets.UTF_8));
            out.closeEntry();
        }
        return jar;
    }

    @Test
    void addAppendsTheDigestWithFileBundleVersionAndDayAndKeepsTheOperatorsLines() throws Exception {
        Path jar = bundle(target, "my-plugin-1.0.0.jar", "com.acme.plugin", "1.0.0", "a");
        String digest = BundleFile.sha256(jar);
        String said = run("add", jar.toString());
        String line = digest + "  my-plugin-1.0.0.jar (com.acme.plugin 1.0.0, trusted 2026-12-07)";
        assertThat(Files.readString(trust)).isEqualTo(HEADER + line + "\n");
        assertThat(said).contains("trusted " + line).contains("1 trusted digest(s)");
        // again: nothing written twice
        assertThat(run("add", jar.toString())).contains("already trusted: " + digest).contains("(line 3)");
        assertThat(Files.readString(trust)).isEqualTo(HEADER + line + "\n");
    }

    @Test
    void addRefusesWhatIsNotABundleAndChangesNothing() throws Exception {
        Path plain = bundle(target, "plain.jar", null, null, "p");
        Path good = bundle(target, "good.jar", "com.acme.good", "1.0.0", "g");
        assertThatThrownBy(() -> run("add", good.toString(), plain.toString())).isInstanceOf(ArborException.class)
                .hasMessageContaining("plain.jar is not an OSGi bundle")
                .hasMessageContaining("Bundle-SymbolicName")
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.INVALID_INPUT));
        Path text = target.resolve("notes.jar");
        Files.writeString(text, "not a zip");
        assertThatThrownBy(() -> run("add", text.toString())).hasMessageContaining("notes.jar is not a jar");
        assertThatThrownBy(() -> run("add", target.resolve("missing.jar").toString()))
                .hasMessageContaining("no file").hasMessageContaining("missing.jar");
        assertThat(Files.readString(trust)).isEqualTo(HEADER);
    }

    @Test
    void listShowsEachDigestItsCommentAndTheDeployFileThatHasItThenUntrustedFiles() throws Exception {
        Path deployed = bundle(deploy, "my-plugin-1.0.0.jar", "com.acme.plugin", "1.0.0", "a");
        Path elsewhere = bundle(target, "other-2.0.0.jar", "com.acme.other", "2.0.0", "b");
        Path stranger = bundle(deploy, "stranger.jar", "com.evil", "6.6.6", "c");
        run("add", deployed.toString(), elsewhere.toString());
        Files.writeString(trust, "oops\n", java.nio.file.StandardOpenOption.APPEND);
        String listed = run("list");
        assertThat(listed).contains(trust + ": 2 trusted digest(s)")
                .contains(BundleFile.sha256(deployed) + "  my-plugin-1.0.0.jar (com.acme.plugin 1.0.0, trusted"
                        + " 2026-12-07)\n    in deploy/my-plugin-1.0.0.jar (com.acme.plugin 1.0.0)")
                .contains(BundleFile.sha256(elsewhere) + "  other-2.0.0.jar (com.acme.other 2.0.0, trusted"
                        + " 2026-12-07)\n    no file in deploy/ has it")
                .contains("problem: " + trust + ":5: 'oops'")
                .contains("not trusted, in deploy/")
                .contains("stranger.jar (com.evil 6.6.6)  " + BundleFile.sha256(stranger));
    }

    @Test
    void revokeRemovesDigestsGivenAsDigestFileOrDeployNameAndNothingWhenOneIsUnknown() throws Exception {
        Path a = bundle(deploy, "a-1.jar", "com.acme.a", "1", "a");
        Path b = bundle(target, "b-1.jar", "com.acme.b", "1", "b");
        Path c = bundle(target, "c-1.jar", "com.acme.c", "1", "c");
        run("add", a.toString(), b.toString(), c.toString());
        String before = Files.readString(trust);
        assertThatThrownBy(() -> run("revoke", BundleFile.sha256(b), "f".repeat(64)))
                .isInstanceOf(ArborException.class).hasMessageContaining("f".repeat(64) + " is not listed")
                .hasMessageContaining("nothing was changed");
        assertThat(Files.readString(trust)).isEqualTo(before);
        assertThatThrownBy(() -> run("revoke", "no-such.jar")).hasMessageContaining("neither a SHA-256 digest");
        String said = run("revoke", "a-1.jar", BundleFile.sha256(b).toUpperCase(), c.toString());
        assertThat(said).contains("revoked " + BundleFile.sha256(a))
                .contains("deploy/a-1.jar (com.acme.a 1.0.0) has it: a running Arbor uninstalls its bundle")
                .contains("0 trusted digest(s)");
        assertThat(Files.readString(trust)).isEqualTo(HEADER);
    }

    @Test
    void addSupersedeRetiresOlderVersionsOfTheSameBundleOnly() throws Exception {
        Path v100 = bundle(target, "my-plugin-1.0.0.jar", "com.acme.plugin", "1.0.0", "1");
        Path v101 = bundle(target, "my-plugin-1.0.1.jar", "com.acme.plugin", "1.0.1", "2");
        Path v101again = bundle(target, "my-plugin-1.0.1-rebuilt.jar", "com.acme.plugin", "1.0.1", "3");
        Path v200 = bundle(target, "my-plugin-2.0.0.jar", "com.acme.plugin", "2.0.0", "4");
        Path other = bundle(target, "other-0.1.jar", "com.acme.other", "0.1", "5");
        run("add", v100.toString(), v101.toString(), v101again.toString(), v200.toString(), other.toString());
        // a hand-written line whose bundle nothing tells: kept
        String unknown = "e".repeat(64);
        Files.writeString(trust, unknown + "  from the old days\n", java.nio.file.StandardOpenOption.APPEND);
        Path v110 = bundle(target, "my-plugin-1.1.0.jar", "com.acme.plugin", "1.1.0", "6");
        String said = run("add", "--supersede", v110.toString());
        assertThat(said).contains("retired " + BundleFile.sha256(v100)).contains("retired " + BundleFile.sha256(v101))
                .contains("retired " + BundleFile.sha256(v101again)).contains("is superseded by 1.1.0");
        String now = Files.readString(trust);
        assertThat(now).startsWith(HEADER)
                .doesNotContain(BundleFile.sha256(v100)).doesNotContain(BundleFile.sha256(v101))
                .doesNotContain(BundleFile.sha256(v101again))
                .contains(BundleFile.sha256(v200)) // newer: kept
                .contains(BundleFile.sha256(other)) // another bundle: kept
                .contains(unknown + "  from the old days")
                .contains(BundleFile.sha256(v110) + "  my-plugin-1.1.0.jar (com.acme.plugin 1.1.0, trusted"
                        + " 2026-12-07)");
    }

    @Test
    void addSupersedeKeepsTheDigestADeployFileRunsUntilItsSuccessorIsThere() throws Exception {
        Path running = bundle(deploy, "my-plugin-1.0.0.jar", "com.acme.plugin", "1.0.0", "1");
        Files.writeString(trust, BundleFile.sha256(running) + "  hand-written, bundle unknown\n",
                java.nio.file.StandardOpenOption.APPEND);
        Path next = bundle(target, "my-plugin-1.0.1.jar", "com.acme.plugin", "1.0.1", "2");
        String said = run("add", "--supersede", next.toString());
        assertThat(said).contains("kept " + BundleFile.sha256(running))
                .contains("my-plugin-1.0.1.jar is not in " + deploy);
        assertThat(Files.readString(trust)).contains(BundleFile.sha256(running)).contains(BundleFile.sha256(next));
        // the new jar in deploy/ too: now the old digest goes (it is known from the deploy file, not the comment)
        Path copied = Files.copy(next, deploy.resolve("my-plugin-1.0.1.jar"));
        assertThat(run("add", "--supersede", copied.toString()))
                .contains("already trusted: " + BundleFile.sha256(next))
                .contains("retired " + BundleFile.sha256(running) + "  hand-written, bundle unknown (com.acme.plugin"
                        + " 1.0.0, from deploy/my-plugin-1.0.0.jar, is superseded by 1.0.1)");
        assertThat(Files.readString(trust)).doesNotContain(BundleFile.sha256(running));
    }

    @Test
    void aRelativeNameIsFoundInTheInstallationOrInDeploy() throws Exception {
        Path a = bundle(deploy, "a-1.jar", "com.acme.a", "1", "a");
        Path b = bundle(deploy, "b-1.jar", "com.acme.b", "1", "b");
        assertThat(run("add", "deploy/a-1.jar", "b-1.jar")).contains("trusted " + BundleFile.sha256(a))
                .contains("trusted " + BundleFile.sha256(b));
        assertThat(run("revoke", "deploy/a-1.jar")).contains("revoked " + BundleFile.sha256(a));
    }

    @Test
    void withoutTheDeployBundleTheCommandSaysSo() {
        assertThatThrownBy(() -> run(false, "list")).isInstanceOf(ArborException.class)
                .hasMessageContaining("need the deploy bundle");
    }
}
