package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.platform.deploy.RefusedFiles;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;
import org.osgi.framework.ServiceReference;

/**
 * Redeploying a plugin the way Maven names its builds ({@code runner-up-1.0.0.jar}, then {@code runner-up-1.0.1.jar}
 * beside it), in a real framework, while three threads keep generating through the plugin's part: the newer file is
 * installed and serves before the older bundle leaves (logged naming both files), deleting the newer file rolls back
 * to the older, a newer version that does not resolve leaves the older serving, and {@code arbor trust add
 * --supersede} retires the old digests in the same edit that trusts the new one. Every request succeeds and every
 * one is served by the plugin (the built-in selector would give other tokens): the part is never missing.
 */
class RedeployIT {
    private static final String RUNNER_UP = "dev.arbor.test.runnerup";
    private static final Logger DEPLOY_LOG = Logger.getLogger("dev.arbor.deploy"); // strong references: JUL is weak
    private static final Logger RUNTIME_LOG = Logger.getLogger("dev.arbor.runtime");
    private static final int LOAD_THREADS = 3;
    private static final int MIN_REQUESTS = 300;

    private final List<String> logs = new CopyOnWriteArrayList<>();
    private RuntimeHarness runtime;
    private Function<String[], Integer> cli;

    @Test
    @SuppressWarnings("unchecked")
    void versionedFilesRedeployUnderLoadWithoutLosingThePartAndOldDigestsAreRetired(@TempDir Path home,
            @TempDir Path target) throws Exception {
        Handler capture = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getMessage() != null) {
                    logs.add(r.getMessage());
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        DEPLOY_LOG.setLevel(Level.INFO);
        DEPLOY_LOG.addHandler(capture);
        RUNTIME_LOG.addHandler(capture);
        Path built = Path.of(System.getProperty("arbor.testBundles", "target/test-bundles"), "runner-up-selector.jar");
        Path v100 = TestJars.withVersion(built, target.resolve("runner-up-1.0.0.jar"), "1.0.0");
        Path v101 = TestJars.withVersion(built, target.resolve("runner-up-1.0.1.jar"), "1.0.1");
        Path v102 = TestJars.withVersion(built, target.resolve("runner-up-1.0.2.jar"), "1.0.2");
        Path v103 = target.resolve("runner-up-1.0.3.jar"); // built against an API this installation does not have
        TestJars.withImportRange(TestJars.withVersion(built, target.resolve("v103.jar"), "1.0.3"),
                "dev.arbor.api.sampling", "[2.0,3)", v103);
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        try (RuntimeHarness started = new RuntimeHarness(home, models)) {
            runtime = started;
            PipelineService pipelines = runtime.pipelines();
            runtime.awaitReady("stories260k");
            ServiceReference<?> ref = runtime.context().getAllServiceReferences(Function.class.getName(),
                    "(arbor.command=cli)")[0];
            cli = (Function<String[], Integer>) runtime.context().getService(ref);
            Options greedy = Options.of(Map.of("temperature", 0, "max_tokens", 12));
            int[] builtIn = pipelines.complete(CompletionRequest.text("stories260k", "Once", greedy),
                    TextSink.DISCARD).tokens();
            String header = Files.readString(runtime.trustFile());

            // 1.0.0 trusted and deployed: the plugin serves
            assertThat(arbor("trust", "add", v100.toString())).isZero();
            Path deployed100 = drop(v100);
            awaitOnly("1.0.0");
            RuntimeHarness.await(() -> !Arrays.equals(greedy(pipelines, greedy), builtIn), 15_000,
                    () -> "the runner-up selector 1.0.0 was never used");
            int[] plugin = greedy(pipelines, greedy);

            AtomicBoolean running = new AtomicBoolean(true);
            AtomicInteger requests = new AtomicInteger();
            ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
            Thread[] load = new Thread[LOAD_THREADS];
            for (int t = 0; t < load.length; t++) {
                load[t] = new Thread(() -> {
                    while (running.get()) {
                        try {
                            int[] tokens = greedy(pipelines, greedy);
                            if (!Arrays.equals(tokens, plugin)) {
                                failures.add("served without the plugin: " + Arrays.toString(tokens)
                                        + (Arrays.equals(tokens, builtIn) ? " (the built-in selector's tokens)" : ""));
                            }
                        } catch (Throwable e) {
                            failures.add(e.toString());
                        }
                        requests.incrementAndGet();
                    }
                }, "load-" + t);
                load[t].start();
            }

            // a newer build beside it: installed and serving before 1.0.0 leaves; the old file stays, superseded
            List<String> phases = new ArrayList<>(); // requests completed during each redeploy
            int before = requests.get();
            assertThat(arbor("trust", "add", v101.toString())).isZero();
            Path deployed101 = drop(v101);
            awaitLog("deploy/runner-up-1.0.1.jar (" + RUNNER_UP + " 1.0.1) supersedes deploy/runner-up-1.0.0.jar ("
                    + RUNNER_UP + " 1.0.0): uninstalled bundle " + RUNNER_UP + " 1.0.0", "delete it, or delete"
                    + " deploy/runner-up-1.0.1.jar to go back to 1.0.0");
            awaitOnly("1.0.1");
            awaitLog("token selector 'sample' is now served by " + RUNNER_UP + " 1.0.1");
            awaitRefused("runner-up-1.0.0.jar", "not installed: superseded by deploy/runner-up-1.0.1.jar ("
                    + RUNNER_UP + " 1.0.1, a higher version of the same bundle); delete this file, or delete"
                    + " deploy/runner-up-1.0.1.jar to go back to 1.0.0");
            awaitRequests(requests, before + 20);
            phases.add("supersede " + (requests.get() - before));

            // roll-back: deleting the newer file installs the older first
            before = requests.get();
            Files.delete(deployed101);
            awaitLog("uninstalled bundle " + RUNNER_UP + " 1.0.1", deployed101 + " was deleted; bundle " + RUNNER_UP
                    + " 1.0.0", "from " + deployed100 + " serves in its place");
            awaitOnly("1.0.0");
            awaitRefused("runner-up-1.0.0.jar", null);
            awaitRequests(requests, before + 20);
            phases.add("roll-back " + (requests.get() - before));

            // a newer version that cannot resolve leaves the older one serving
            before = requests.get();
            assertThat(arbor("trust", "add", v103.toString())).isZero();
            Path deployed103 = drop(v103);
            awaitLog("deploy/runner-up-1.0.3.jar (" + RUNNER_UP + " 1.0.3) does not resolve: it imports"
                    + " dev.arbor.api.sampling [2.0.0,3.0.0)");
            awaitLog("deploy/runner-up-1.0.3.jar (" + RUNNER_UP + " 1.0.3) does not serve",
                    "bundle " + RUNNER_UP + " 1.0.0");
            assertThat(bundle("1.0.0").getState()).isEqualTo(Bundle.ACTIVE);
            assertThat(bundle("1.0.3").getState()).isEqualTo(Bundle.INSTALLED);
            awaitRequests(requests, before + 20);
            phases.add("unresolvable newer " + (requests.get() - before));
            Files.delete(deployed103);
            awaitOnly("1.0.0");

            // the operator's upgrade: the new jar into deploy/ (refused until trusted), then one edit that trusts it
            // and retires 1.0.0 and 1.0.1; the watcher starts 1.0.2 before the revoked 1.0.0 leaves
            before = requests.get();
            Path deployed102 = drop(v102);
            awaitLog("refused " + deployed102 + ": its SHA-256 ");
            awaitRefused("runner-up-1.0.2.jar", "its SHA-256 " + RuntimeHarness.sha256(v102) + " is not trusted");
            assertThat(arbor("trust", "add", "--supersede", deployed102.toString())).isZero();
            String policy = Files.readString(runtime.trustFile());
            assertThat(policy).startsWith(header) // the operator's comments stay
                    .contains(RuntimeHarness.sha256(v102) + "  runner-up-1.0.2.jar (" + RUNNER_UP + " 1.0.2, trusted ")
                    .doesNotContain(RuntimeHarness.sha256(v100)).doesNotContain(RuntimeHarness.sha256(v101))
                    .contains(RuntimeHarness.sha256(v103)); // a higher version stays trusted
            awaitLog("uninstalled bundle " + RUNNER_UP + " 1.0.0", "its SHA-256 " + RuntimeHarness.sha256(v100)
                    + " is no longer listed in " + runtime.trustFile() + "; bundle " + RUNNER_UP + " 1.0.2");
            awaitOnly("1.0.2");
            awaitRefused("runner-up-1.0.0.jar", "its SHA-256 " + RuntimeHarness.sha256(v100) + " is not trusted");
            awaitRequests(requests, Math.max(before + 20, MIN_REQUESTS));
            phases.add("trust add --supersede " + (requests.get() - before));

            running.set(false);
            for (Thread t : load) {
                t.join();
            }
            assertThat(failures).as("requests that failed or were served without the plugin, of " + requests.get())
                    .isEmpty();
            assertThat(requests.get()).isGreaterThanOrEqualTo(MIN_REQUESTS);
            System.out.println("RedeployIT: " + requests.get() + " requests (" + LOAD_THREADS + " threads) during 4"
                    + " redeploys, all served by the plugin; per redeploy: " + String.join(", ", phases));

            // revoking the last trusted version uninstalls it (the operator asked): the built-in serves again
            assertThat(arbor("trust", "revoke", "runner-up-1.0.2.jar")).isZero();
            awaitLog("uninstalled bundle " + RUNNER_UP + " 1.0.2", "is no longer listed in");
            RuntimeHarness.await(() -> runnerUps().isEmpty(), 15_000, () -> "still installed: " + runnerUps());
            assertThat(greedy(pipelines, greedy)).containsExactly(builtIn);
            assertThat(arbor("trust", "revoke", "runner-up-1.0.2.jar")).as("no longer listed: not found").isEqualTo(4);
        } finally {
            DEPLOY_LOG.removeHandler(capture);
            RUNTIME_LOG.removeHandler(capture);
        }
    }

    private int arbor(String... args) {
        return cli.apply(args);
    }

    private static int[] greedy(PipelineService pipelines, Options options) {
        return pipelines.complete(CompletionRequest.text("stories260k", "Once", options), TextSink.DISCARD).tokens();
    }

    /** Writes the jar beside deploy/ under a hidden name, then renames it in: the watcher never sees half a file. */
    private Path drop(Path jar) throws IOException {
        Path target = runtime.home.resolve("deploy").resolve(jar.getFileName());
        Path tmp = runtime.home.resolve("deploy/.incoming.tmp");
        Files.copy(jar, tmp, StandardCopyOption.REPLACE_EXISTING);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        return target;
    }

    private List<Bundle> runnerUps() {
        return Arrays.stream(runtime.context().getBundles()).filter(b -> RUNNER_UP.equals(b.getSymbolicName()))
                .toList();
    }

    private Bundle bundle(String version) {
        return runnerUps().stream().filter(b -> b.getVersion().toString().equals(version)).findFirst().orElseThrow();
    }

    /** Waits until the only runner-up bundle installed is {@code version}, active. */
    private void awaitOnly(String version) {
        RuntimeHarness.await(() -> {
            List<Bundle> all = runnerUps();
            return all.size() == 1 && all.get(0).getVersion().toString().equals(version)
                    && all.get(0).getState() == Bundle.ACTIVE;
        }, 15_000, () -> "expected only " + version + " active; installed: " + runnerUps().stream()
                .map(b -> b.getVersion() + "/" + b.getState()).toList() + "; log: " + logs);
    }

    private void awaitLog(String prefix, String... parts) {
        RuntimeHarness.await(() -> logs.stream().anyMatch(l -> l.startsWith(prefix)
                && Arrays.stream(parts).allMatch(l::contains)), 15_000,
                () -> "no log line starting '" + prefix + "' with " + Arrays.toString(parts) + "; log: " + logs);
    }

    private static void awaitRequests(AtomicInteger requests, int atLeast) {
        RuntimeHarness.await(() -> requests.get() >= atLeast, 30_000,
                () -> "only " + requests.get() + " requests, waiting for " + atLeast);
    }

    /** Waits until the watcher lists {@code file} with a reason containing {@code reason} (null: not listed). */
    private void awaitRefused(String file, String reason) {
        RuntimeHarness.await(() -> {
            String listed = refused().get(file);
            return reason == null ? listed == null : listed != null && listed.contains(reason);
        }, 15_000, () -> "deploy listing for " + file + ": " + refused().get(file) + ", expected " + reason);
    }

    /**
     * The deploy watcher's listing, file to reason, as /admin/bundles and arbor bundles show it; by reflection: the
     * service's classes are the deploy bundle's, not the copies on this test's class path.
     */
    private Map<String, String> refused() {
        ServiceReference<?>[] refs;
        try {
            refs = runtime.context().getAllServiceReferences(RefusedFiles.class.getName(), null);
        } catch (org.osgi.framework.InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
        assertThat(refs).as("the deploy watcher's listing").isNotNull();
        Object watcher = runtime.context().getService(refs[0]);
        Map<String, String> byFile = new java.util.TreeMap<>();
        try {
            for (Object r : (List<?>) watcher.getClass().getMethod("refused").invoke(watcher)) {
                var type = r.getClass();
                byFile.put((String) type.getMethod("file").invoke(r), (String) type.getMethod("reason").invoke(r));
            }
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        } finally {
            runtime.context().ungetService(refs[0]);
        }
        return byFile;
    }
}
