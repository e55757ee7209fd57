package dev.arbor.testkit.framework;

import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.launcher.ArborFramework;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;

/**
 * Starts the assembled distribution ({@code target/arbor}) in a real Felix, in a fresh home whose {@code bundles/}
 * is the distribution's and whose {@code etc/} and {@code deploy/} are private to the test. The API packages come
 * from the test class path (exported by the system bundle) so the test talks to services with typed calls; every
 * other bundle is the real one.
 */
public final class RuntimeHarness implements AutoCloseable {
    /** The API packages at the versions the API bundle exports (from its manifest). */
    public static final String API_PACKAGES = ApiExports.packages();

    public final Path home;
    public final ArborFramework runtime;

    /** Starts the distribution named by system property {@code arbor.dist} (default {@code target/arbor}). */
    public RuntimeHarness(Path home, Path models) throws Exception {
        this(home, models, Map.of());
    }

    /** As above, with extra framework properties (e.g. HTTP configuration). */
    public RuntimeHarness(Path home, Path models, Map<String, String> extra) throws Exception {
        this.home = home;
        Path dist = Path.of(System.getProperty("arbor.dist", "target/arbor"));
        Files.createDirectories(home.resolve("etc/pipelines"));
        Files.createDirectories(home.resolve("deploy"));
        Files.createSymbolicLink(home.resolve("bundles"), dist.resolve("bundles").toAbsolutePath());
        try (var files = Files.list(dist.resolve("etc/pipelines"))) {
            for (Path f : files.toList()) {
                Files.copy(f, home.resolve("etc/pipelines").resolve(f.getFileName()));
            }
        }
        // the model registry (the models the pipelines and requests name) and the declared prognostic models
        for (String declared : new String[] {"etc/models", "etc/prognostics"}) {
            if (Files.isDirectory(dist.resolve(declared))) {
                Files.createDirectories(home.resolve(declared));
                try (var files = Files.list(dist.resolve(declared))) {
                    for (Path f : files.toList()) {
                        Files.copy(f, home.resolve(declared).resolve(f.getFileName()));
                    }
                }
            }
        }
        // the distribution's trust policy (its header only: nothing in deploy/ is trusted until a test says so)
        Path trust = dist.resolve("etc/trust/trusted-bundles.sha256");
        if (Files.exists(trust) && !Files.exists(trustFile())) {
            Files.createDirectories(trustFile().getParent());
            Files.copy(trust, trustFile());
        }
        Path cache = Path.of("target/it-cache").toAbsolutePath();
        Files.createDirectories(cache);
        System.setProperty("arbor.cache", cache.toString());
        Map<String, String> props = new java.util.HashMap<>(Map.of(
                "org.osgi.framework.system.packages.extra", API_PACKAGES,
                "arbor.launcher.skip", "arbor-api\\.jar",
                "arbor.models", models == null ? home.resolve("no-models").toString() : models.toString(),
                "arbor.cache", cache.toString(),
                "arbor.etc.poll.ms", "200",
                "arbor.deploy.poll.ms", "200"));
        props.putAll(extra);
        this.runtime = ArborFramework.start(home, home.resolve("felix-cache"), props);
    }

    /** The trust policy of this home's {@code deploy/} folder. */
    public Path trustFile() {
        return home.resolve("etc/trust/trusted-bundles.sha256");
    }

    /** Trusts the bytes of {@code jar} now: appends its SHA-256 to {@link #trustFile()}, returns the digest. */
    public String trust(Path jar) throws IOException {
        String digest = sha256(jar);
        Files.createDirectories(trustFile().getParent());
        Files.writeString(trustFile(), digest + "  " + jar.getFileName() + System.lineSeparator(),
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        return digest;
    }

    /** The SHA-256 of a file, in lower-case hex (the trust policy's form). */
    public static String sha256(Path file) throws IOException {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                    .digest(Files.readAllBytes(file)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    public BundleContext context() {
        return runtime.context();
    }

    public PipelineService pipelines() {
        ServiceReference<PipelineService> ref = null;
        long deadline = System.nanoTime() + MIN_WAIT_MILLIS * 1_000_000L;
        while (ref == null && System.nanoTime() < deadline) {
            ref = context().getServiceReference(PipelineService.class);
            if (ref == null) {
                sleep(10);
            }
        }
        if (ref == null) {
            throw new IllegalStateException("the runtime registered no PipelineService within " + MIN_WAIT_MILLIS / 1000
                    + " s");
        }
        return context().getService(ref);
    }

    public PipelineStatus awaitReady(String pipeline) {
        PipelineService service = pipelines();
        await(() -> service.status(pipeline).map(PipelineStatus::ready).orElse(false), 20_000,
                () -> "pipeline " + pipeline + " not ready: " + service.status(pipeline)
                        .map(PipelineStatus::describe).orElse("not configured"));
        return service.status(pipeline).orElseThrow();
    }

    /**
     * Creates or updates configuration {@code pid} through the framework's Config Admin, by reflection: its classes
     * are not on a test's class path.
     */
    public void configure(String pid, java.util.Dictionary<String, ?> properties) throws Exception {
        ServiceReference<?> ref = context().getAllServiceReferences("org.osgi.service.cm.ConfigurationAdmin", null)[0];
        Object admin = context().getService(ref);
        Class<?> adminType = ref.getBundle().loadClass("org.osgi.service.cm.ConfigurationAdmin");
        Class<?> configType = ref.getBundle().loadClass("org.osgi.service.cm.Configuration");
        Object configuration = adminType.getMethod("getConfiguration", String.class, String.class)
                .invoke(admin, pid, "?");
        configType.getMethod("update", java.util.Dictionary.class).invoke(configuration, properties);
    }

    /**
     * Starts the HTTP server with {@code config} (its configuration {@code dev.arbor.http}; port 0 asks for an
     * ephemeral port) and returns its base address once it listens, from the {@code HttpEndpoint} service it
     * registers then.
     */
    public java.net.URI startHttp(java.util.Dictionary<String, ?> config) throws Exception {
        configure("dev.arbor.http", config);
        ServiceReference<?>[] endpoint = {null};
        await(() -> {
            try {
                ServiceReference<?>[] refs = context().getAllServiceReferences(null,
                        "(objectClass=dev.arbor.platform.http.HttpEndpoint)");
                endpoint[0] = refs == null ? null : refs[0];
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            return endpoint[0] != null;
        }, 20_000, () -> "the HTTP server registered no HttpEndpoint service");
        return java.net.URI.create("http://" + endpoint[0].getProperty("arbor.http.host") + ":"
                + endpoint[0].getProperty("arbor.http.port"));
    }

    public Bundle bundle(String symbolicName) {
        for (Bundle b : context().getBundles()) {
            if (symbolicName.equals(b.getSymbolicName())) {
                return b;
            }
        }
        throw new IllegalStateException("no bundle " + symbolicName);
    }

    /**
     * Polls {@code condition} until it holds: for an event that must happen, never for "soon enough". The deadline
     * only ends a test whose event never comes, so it is at least {@link #MIN_WAIT_MILLIS} whatever the caller
     * asks: on a loaded shared machine a bundle starts or a swap lands seconds later than on a quiet one.
     */
    public static void await(BooleanSupplier condition, long timeoutMillis, java.util.function.Supplier<String> what) {
        long wait = Math.max(timeoutMillis, MIN_WAIT_MILLIS);
        long deadline = System.nanoTime() + wait * 1_000_000L;
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + wait + " ms: " + what.get());
            }
            sleep(20);
        }
    }

    /** The shortest wait of {@link #await} for an event that must happen. */
    public static final long MIN_WAIT_MILLIS = 60_000;

    public static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() throws Exception {
        runtime.close();
    }

    public static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (var walk = Files.walk(root)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
