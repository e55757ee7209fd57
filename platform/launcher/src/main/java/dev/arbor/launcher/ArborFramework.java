package dev.arbor.launcher;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.stream.Stream;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.launch.Framework;
import org.osgi.framework.launch.FrameworkFactory;
import org.osgi.framework.wiring.BundleCapability;
import org.osgi.framework.wiring.BundleRequirement;
import org.osgi.framework.wiring.BundleRevision;

/**
 * An embedded Felix holding an Arbor installation: {@code bundles/} (installed and started in name order, ServiceLoader
 * providers first), {@code deploy/} (watched by the deploy bundle: a bundle dropped in starts if
 * {@code etc/trust/trusted-bundles.sha256} lists its SHA-256; delete it, it goes), {@code etc/} (pipeline files,
 * trust policy, admin credentials). Used by the launcher and by in-framework tests.
 *
 * <p>Whatever installs a bundle later (deploy/, the Web Console, Gogo, code), {@link BundleTrust} lets it resolve only
 * when the trust policy lists its SHA-256 or its bytes are a jar of {@code bundles/}. The framework storage is
 * private to the user ({@link PrivateStorage}).
 */
public final class ArborFramework implements AutoCloseable {
    private static final String SERVICELOADER_NAMESPACE = "osgi.serviceloader";
    /** The trust policy file (default {@code <arbor.etc>/trust/trusted-bundles.sha256}), as the deploy watcher reads it. */
    static final String TRUST_PROPERTY = "arbor.deploy.trust";
    /** Felix HTTP's logger; held here because java.util.logging keeps loggers (and their filters) weakly. */
    private static final java.util.logging.Logger FELIX_HTTP_LOG = java.util.logging.Logger.getLogger(
            "org.apache.felix.http");

    static {
        // "Jetty not started (HTTP and HTTPS disabled)" is the admin server being off, as designed for one-shot
        // commands: not worth a warning on every command's stderr. Every other Felix HTTP message passes.
        FELIX_HTTP_LOG.setFilter(r -> r.getMessage() == null || !r.getMessage().startsWith("Jetty not started"));
    }

    private final Framework framework;
    private final Path storage;
    private final boolean deleteStorage;
    private boolean closed;

    private ArborFramework(Framework framework, Path storage, boolean deleteStorage) {
        this.framework = framework;
        this.storage = storage;
        this.deleteStorage = deleteStorage;
    }

    /**
     * Starts a framework for the installation at {@code home}; {@code extra} adds or overrides framework
     * properties. {@code storage} null = a fresh temporary cache deleted on close (each command runs clean and
     * concurrent commands never share a cache).
     */
    public static ArborFramework start(Path home, Path storage, Map<String, String> extra)
            throws IOException, BundleException {
        NoPhoningHome.apply();
        boolean temporary = storage == null;
        // the storage holds copies of every bundle and Config Admin's files: private to this user from the start
        Path cache = temporary ? Files.createTempDirectory("arbor-felix-") : PrivateStorage.cleaned(storage);
        Path deploy = home.resolve("deploy");
        Files.createDirectories(deploy);
        Map<String, String> config = new HashMap<>();
        config.put(Constants.FRAMEWORK_STORAGE, cache.toString());
        // no FRAMEWORK_STORAGE_CLEAN: Felix would clean by deleting the folder and creating it anew with the
        // process umask's permissions; the folder is fresh (temporary) or emptied above instead
        config.put("felix.log.level", "1");
        config.put("arbor.deploy", deploy.toString());
        // The admin server (Felix HTTP + Web Console) listens only when asked to (arbor.admin.enabled or Config
        // Admin PID dev.arbor.admin): a one-shot command opens no port. Loopback unless the operator says otherwise.
        config.put("org.apache.felix.http.enable", "false");
        config.put("org.apache.felix.https.enable", "false");
        config.put("org.apache.felix.http.host", "127.0.0.1");
        config.put("org.osgi.service.http.port", "8081");
        // the console serves nothing until Arbor's credential check is registered: never its built-in admin/admin
        config.put("felix.webconsole.security.providers", "arbor");
        config.put("gosh.args", "--nointeractive");
        // keep delayed components (part factories) alive between requests instead of disposing them whenever the
        // last request releases them: activation per request would be wasted work
        config.put("ds.delayed.keepInstances", "true");
        config.put("arbor.home", home.toString());
        config.put("arbor.etc", home.resolve("etc").toString());
        config.putAll(extra);
        FrameworkFactory factory = ServiceLoader.load(FrameworkFactory.class).iterator().next();
        Framework framework = factory.newFramework(config);
        framework.init();
        PrivateStorage.restrict(cache);
        java.util.logging.Logger.getLogger("dev.arbor.launcher").info(() -> "framework storage " + cache);
        framework.start();
        BundleContext ctx = framework.getBundleContext();
        // the same file the deploy watcher reads (a framework property, else a system property, else etc/trust)
        BundleTrust trust = new BundleTrust(home.resolve("bundles"), Path.of(config.getOrDefault(TRUST_PROPERTY,
                System.getProperty(TRUST_PROPERTY, Path.of(config.get("arbor.etc"), "trust",
                        "trusted-bundles.sha256").toString()))));
        trust.enforce(ctx);
        List<Bundle> installed = new ArrayList<>();
        List<Path> jars;
        try (Stream<Path> files = Files.list(home.resolve("bundles"))) {
            jars = files.filter(p -> p.toString().endsWith(".jar")).sorted(Comparator.naturalOrder()).toList();
        }
        String skip = extra.getOrDefault("arbor.launcher.skip", "");
        for (Path jar : jars) {
            if (!skip.isEmpty() && jar.getFileName().toString().matches(skip)) {
                continue;
            }
            installed.add(trust.installFromInstallation(ctx, jar));
        }
        for (Bundle b : serviceLoaderProvidersFirst(installed)) {
            if (b.getHeaders().get(Constants.FRAGMENT_HOST) == null) {
                try {
                    b.start();
                } catch (BundleException e) {
                    // one broken bundle must not keep the rest of the runtime down; say which and why
                    System.err.println("arbor: bundle " + b.getSymbolicName() + " did not start: " + e.getMessage());
                }
            }
        }
        return new ArborFramework(framework, cache, temporary);
    }

    /**
     * {@code bundles} with the ServiceLoader providers another bundle asks for ({@code osgi.serviceloader}
     * capabilities matching another bundle's requirement, e.g. slf4j's logging back-end) moved to the front: such a
     * consumer picks its providers once, at first use, which may happen while an earlier bundle starts.
     */
    static List<Bundle> serviceLoaderProvidersFirst(List<Bundle> bundles) {
        List<Bundle> first = new ArrayList<>();
        List<Bundle> rest = new ArrayList<>();
        for (Bundle b : bundles) {
            (providesServiceLoaderServiceForOthers(b, bundles) ? first : rest).add(b);
        }
        first.addAll(rest);
        return first;
    }

    private static boolean providesServiceLoaderServiceForOthers(Bundle provider, List<Bundle> bundles) {
        BundleRevision revision = provider.adapt(BundleRevision.class);
        if (revision == null) {
            return false;
        }
        for (BundleCapability capability : revision.getDeclaredCapabilities(SERVICELOADER_NAMESPACE)) {
            for (Bundle consumer : bundles) {
                BundleRevision other = consumer == provider ? null : consumer.adapt(BundleRevision.class);
                if (other == null) {
                    continue;
                }
                for (BundleRequirement requirement : other.getDeclaredRequirements(SERVICELOADER_NAMESPACE)) {
                    if (requirement.matches(capability)) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    public Framework framework() {
        return framework;
    }

    public BundleContext context() {
        return framework.getBundleContext();
    }

    /** Stops the framework and deletes a temporary storage; later calls (a signal and main() both) do nothing. */
    @Override
    public synchronized void close() throws Exception {
        if (closed) {
            return;
        }
        closed = true;
        framework.stop();
        framework.waitForStop(30_000);
        if (deleteStorage) {
            try (Stream<Path> walk = Files.walk(storage)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
