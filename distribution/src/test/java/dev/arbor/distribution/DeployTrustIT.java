package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;
import org.osgi.framework.ServiceReference;

/**
 * The deploy folder's trust policy in a real framework: untrusted jars are refused with a log line that says how to
 * trust them, trusting one later starts it, a changed jar is refused until its new digest is trusted, removing a
 * digest revokes the bundle, deleting the file uninstalls it. The runner-up selector (a higher-ranked 'sample'
 * selector that changes greedy output) shows whether a deployed bundle is in use.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DeployTrustIT {
    private static final String RUNNER_UP = "dev.arbor.test.runnerup";
    private static final Logger DEPLOY_LOG = Logger.getLogger("dev.arbor.deploy"); // strong reference: JUL is weak
    private static final List<LogRecord> LOGS = new CopyOnWriteArrayList<>();
    private static final Handler CAPTURE = new Handler() {
        @Override
        public void publish(LogRecord record) {
            LOGS.add(record);
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    @TempDir
    static Path home;
    @TempDir
    static Path scratch;
    static RuntimeHarness runtime;
    static PipelineService pipelines;
    static Path jar;
    static Path deployed;
    static int[] normal;
    static boolean adminPortFreeBeforeStart;

    @BeforeAll
    static void start() throws Exception {
        DEPLOY_LOG.setLevel(Level.INFO);
        DEPLOY_LOG.addHandler(CAPTURE);
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        adminPortFreeBeforeStart = bindable(8081); // another program may use it: then only the services are checked
        runtime = new RuntimeHarness(home, models);
        pipelines = runtime.pipelines();
        runtime.awaitReady("stories260k");
        jar = Path.of(System.getProperty("arbor.testBundles", "target/test-bundles"), "runner-up-selector.jar");
        deployed = runtime.home.resolve("deploy/runner-up-selector.jar");
        normal = greedyTokens();
    }

    @AfterAll
    static void stop() throws Exception {
        DEPLOY_LOG.removeHandler(CAPTURE);
        if (runtime != null) {
            runtime.close();
        }
    }

    @Test
    @Order(1)
    void oneShotModeOpensNoPort() throws Exception {
        assertThat(runtime.bundle("org.apache.felix.http.jetty12").getState()).isEqualTo(Bundle.ACTIVE);
        assertThat(runtime.bundle("dev.arbor.platform.deploy").getState()).isEqualTo(Bundle.ACTIVE);
        // getAll...: the test class path holds other copies of these classes (class-space filtering would hide them)
        ServiceReference<?>[] http = runtime.context().getAllServiceReferences(
                "org.osgi.service.servlet.runtime.HttpServiceRuntime", null);
        for (ServiceReference<?> r : http == null ? new ServiceReference<?>[0] : http) {
            Object endpoints = r.getProperty("osgi.http.endpoint");
            assertThat(endpoints == null ? List.of() : Arrays.asList((String[]) endpoints))
                    .as("nothing listens unless the admin server is enabled").isEmpty();
        }
        if (adminPortFreeBeforeStart) {
            assertThat(bindable(8081)).as("the default admin port stays free in one-shot mode").isTrue();
        }
    }

    private static boolean bindable(int port) {
        try (java.net.ServerSocket s = new java.net.ServerSocket(port, 1, java.net.InetAddress.getLoopbackAddress())) {
            return true;
        } catch (IOException taken) {
            return false;
        }
    }

    @Test
    @Order(2)
    void anUntrustedBundleIsRefusedWithALogLineNamingFileDigestAndTheFix() throws Exception {
        String digest = RuntimeHarness.sha256(jar);
        drop(jar);
        LogRecord refusal = awaitLog("refused " + deployed);
        assertThat(refusal.getLevel()).isEqualTo(Level.WARNING);
        assertThat(refusal.getMessage()).contains(digest)
                .contains("add " + digest + " to " + runtime.trustFile());
        RuntimeHarness.sleep(1_000); // several polls: it must stay refused
        assertThat(installed()).isEmpty();
        assertThat(greedyTokens()).containsExactly(normal);
        assertThat(LOGS.stream().filter(r -> r.getMessage().startsWith("refused " + deployed))).hasSize(1);
    }

    @Test
    @Order(3)
    void trustingTheDigestLaterStartsTheWaitingBundleAndItIsUsed() throws Exception {
        runtime.trust(jar);
        RuntimeHarness.await(() -> installed().map(b -> b.getState() == Bundle.ACTIVE).orElse(false), 15_000,
                () -> "the runner-up bundle did not start after its digest was trusted");
        RuntimeHarness.await(() -> !Arrays.equals(greedyTokens(), normal), 15_000,
                () -> "the trusted runner-up selector was never used");
    }

    @Test
    @Order(4)
    void aChangedJarIsRefusedAndThePreviouslyTrustedVersionKeepsRunning() throws Exception {
        long bundleId = installed().orElseThrow().getBundleId();
        Path modified = scratch.resolve("modified.jar");
        withExtraEntry(jar, modified);
        String digest = RuntimeHarness.sha256(modified);
        drop(modified);
        LogRecord refusal = awaitLog("refused " + deployed + ": its SHA-256 " + digest);
        assertThat(refusal.getMessage()).contains("add " + digest + " to " + runtime.trustFile())
                .contains("keeps running");
        Bundle running = installed().orElseThrow();
        assertThat(running.getBundleId()).isEqualTo(bundleId);
        assertThat(running.getEntry("META-INF/arbor-test-modified.txt")).as("the untrusted bytes were not installed")
                .isNull();
    }

    @Test
    @Order(5)
    void deletingTheFileUninstallsTheBundle() throws Exception {
        Files.delete(deployed);
        RuntimeHarness.await(() -> installed().isEmpty(), 15_000, () -> "the bundle stayed after its file was deleted");
        assertThat(greedyTokens()).containsExactly(normal);
    }

    @Test
    @Order(6)
    void removingTheDigestFromThePolicyRevokesARunningBundle() throws Exception {
        drop(jar); // still trusted from order 3
        RuntimeHarness.await(() -> installed().map(b -> b.getState() == Bundle.ACTIVE).orElse(false), 15_000,
                () -> "the trusted runner-up bundle did not start");
        String digest = RuntimeHarness.sha256(jar);
        List<String> kept = Files.readAllLines(runtime.trustFile()).stream().filter(l -> !l.startsWith(digest))
                .toList();
        Files.write(runtime.trustFile(), kept);
        RuntimeHarness.await(() -> installed().isEmpty(), 15_000,
                () -> "the bundle kept running after its digest left the trust policy");
        awaitLog("uninstalled bundle " + RUNNER_UP, "its SHA-256 " + digest + " is no longer listed in "
                + runtime.trustFile());
        awaitLog("refused " + deployed + ": its SHA-256 " + digest);
    }

    @Test
    @Order(7)
    void aBundleBuiltAgainstAnotherApiVersionIsExplainedWithTheVersionsThisInstallationExports() throws Exception {
        Path wrong = scratch.resolve("wrong-api.jar");
        TestJars.withImportRange(jar, "dev.arbor.api.sampling", "[2.0,3)", wrong);
        runtime.trust(wrong);
        Path target = runtime.home.resolve("deploy/wrong-api.jar");
        Path tmp = runtime.home.resolve("deploy/.wrong.tmp");
        Files.copy(wrong, tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        LogRecord line = awaitLog("deploy/wrong-api.jar (" + RUNNER_UP + " ",
                "does not resolve: it imports dev.arbor.api.sampling [2.0.0,3.0.0) but this installation exports 1.",
                "; rebuild it against the installed API");
        assertThat(line.getLevel()).isEqualTo(Level.WARNING);
        Bundle bundle = installed().orElseThrow();
        assertThat(bundle.getState()).isEqualTo(Bundle.INSTALLED);
        // what /admin/bundles gives as the bundle's reason
        assertThat(dev.arbor.platform.deploy.Unresolved.explain(runtime.context(), bundle))
                .isEqualTo(line.getMessage());
        Files.delete(target);
        RuntimeHarness.await(() -> installed().isEmpty(), 15_000, () -> "the unresolved bundle stayed after deletion");
    }

    private static Optional<Bundle> installed() {
        return Arrays.stream(runtime.context().getBundles()).filter(b -> RUNNER_UP.equals(b.getSymbolicName()))
                .findFirst();
    }

    /** Writes the jar next to deploy/ under a hidden name, then renames it in: the watcher never sees half a file. */
    private static void drop(Path source) throws IOException {
        Path tmp = runtime.home.resolve("deploy/.incoming.tmp");
        Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, deployed, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** The latest deploy log line that starts with {@code prefix} and contains every one of {@code parts}. */
    private static LogRecord awaitLog(String prefix, String... parts) {
        java.util.function.Predicate<LogRecord> wanted = r -> r.getMessage().startsWith(prefix)
                && Arrays.stream(parts).allMatch(r.getMessage()::contains);
        RuntimeHarness.await(() -> LOGS.stream().anyMatch(wanted), 15_000,
                () -> "no log line starting '" + prefix + "' containing " + Arrays.toString(parts)
                        + "; deploy log so far: " + LOGS.stream().map(LogRecord::getMessage).toList());
        return LOGS.stream().filter(wanted).reduce((a, b) -> b).orElseThrow();
    }

    /** The same bundle with one more entry: a valid jar with another digest. */
    private static void withExtraEntry(Path source, Path target) throws IOException {
        try (ZipFile in = new ZipFile(source.toFile());
             ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(target))) {
            for (ZipEntry e : java.util.Collections.list(in.entries())) {
                out.putNextEntry(new ZipEntry(e.getName()));
                in.getInputStream(e).transferTo(out);
                out.closeEntry();
            }
            out.putNextEntry(new ZipEntry("META-INF/arbor-test-modified.txt"));
            out.write("changed after it was trusted".getBytes(java.nio.charset.StandardCharsets.UTF_8));
            out.closeEntry();
        }
    }

    private static int[] greedyTokens() {
        return pipelines.complete(CompletionRequest.text("stories260k", "Once",
                Options.of(Map.of("temperature", 0, "max_tokens", 12))), TextSink.DISCARD).tokens();
    }
}
