package dev.arbor.launcher;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
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

    /**
     * Framework property: a regular expression of bundle symbolic names the launcher installs but does not start
     * (a one-shot command needs no shell, Web Console or HTTP server); a bundle that needs them starts them.
     */
    public static final String LAZY_PROPERTY = "arbor.launcher.lazy";

    private final Framework framework;
    private final Path storage;
    private final boolean deleteStorage;
    private final StorageSlot slot;
    private boolean closed;

    private ArborFramework(Framework framework, Path storage, boolean deleteStorage, StorageSlot slot) {
        this.framework = framework;
        this.storage = storage;
        this.deleteStorage = deleteStorage;
        this.slot = slot;
    }

    /**
     * Starts a framework for the installation at {@code home}; {@code extra} adds or overrides framework
     * properties. {@code storage} null = a fresh temporary cache deleted on close (each command runs clean and
     * concurrent commands never share a cache).
     */
    public static ArborFramework start(Path home, Path storage, Map<String, String> extra)
            throws IOException, BundleException {
        boolean temporary = storage == null;
        // the storage holds Felix's bundle metadata and Config Admin's files: private to this user from the start
        Path cache = temporary ? Files.createTempDirectory("arbor-felix-") : PrivateStorage.cleaned(storage);
        return launch(home, cache, temporary, null, extra);
    }

    /**
     * Starts a framework for the installation at {@code home} in a storage slot under {@code slots} that later runs
     * reuse ({@link StorageSlot}): when the installation's bundles are unchanged since the slot's last clean run,
     * Felix finds them installed and unpacked already; everything else a run leaves (bundles installed from
     * deploy/ or at run time, bundle data such as Config Admin's files) is discarded, so each run still starts
     * clean. Without a free slot it starts as {@link #start} with a temporary storage.
     */
    public static ArborFramework startReusing(Path home, Path slots, Map<String, String> extra)
            throws IOException, BundleException {
        long begin = System.nanoTime();
        StorageSlot slot = StorageSlot.acquire(slots, storageFormat(extra));
        if (slot == null) {
            return start(home, null, extra);
        }
        StartupTrace.mark("storage slot " + slot.folder() + (slot.reusable() ? " (reused)" : " (new)"), begin);
        try {
            return launch(home, slot.folder(), false, slot, extra);
        } catch (IOException | BundleException | RuntimeException e) {
            slot.close();
            throw e;
        }
    }

    /** What a reusable storage's content depends on besides the bundles: the framework's own jar and the skip rule. */
    private static String storageFormat(Map<String, String> extra) throws IOException {
        String felix;
        try {
            felix = StorageSlot.fingerprint(Path.of(Framework.class.getProtectionDomain().getCodeSource().getLocation()
                    .toURI()));
        } catch (java.net.URISyntaxException | RuntimeException e) {
            felix = "unknown " + System.nanoTime(); // never equal: no reuse when the framework jar is unknown
        }
        return "arbor storage 1; felix " + felix + "; skip " + extra.getOrDefault("arbor.launcher.skip", "") + "\n";
    }

    private static ArborFramework launch(Path home, Path cache, boolean temporary, StorageSlot slot,
                                         Map<String, String> extra) throws IOException, BundleException {
        long begin = System.nanoTime();
        NoPhoningHome.apply();
        Path deploy = home.resolve("deploy");
        Files.createDirectories(deploy);
        Map<String, String> config = new HashMap<>();
        config.put(Constants.FRAMEWORK_STORAGE, cache.toString());
        // no FRAMEWORK_STORAGE_CLEAN: Felix would clean by deleting the folder and creating it anew with the
        // process umask's permissions; the folder is fresh (temporary), emptied, or a slot checked below instead
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
        if (slot != null) {
            // a reused storage keeps SCR's parsed component descriptions (SlotReuse keeps that one data file), so a
            // one-shot command does not parse every bundle's OSGI-INF XML again; SCR re-reads a bundle whose
            // last-modified time differs from the one it recorded
            config.put("ds.cache.metadata", "true");
        }
        config.put("arbor.home", home.toString());
        config.put("arbor.etc", home.resolve("etc").toString());
        config.putAll(extra);
        String skip = extra.getOrDefault("arbor.launcher.skip", "");
        Map<String, Path> jars = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(home.resolve("bundles"))) {
            for (Path jar : files.filter(p -> p.toString().endsWith(".jar")).sorted(Comparator.naturalOrder())
                    .toList()) {
                if (skip.isEmpty() || !jar.getFileName().toString().matches(skip)) {
                    jars.put(location(jar), jar);
                }
            }
        }
        // the same file the deploy watcher reads (a framework property, else a system property, else etc/trust)
        BundleTrust trust = new BundleTrust(home.resolve("bundles"), Path.of(config.getOrDefault(TRUST_PROPERTY,
                System.getProperty(TRUST_PROPERTY, Path.of(config.get("arbor.etc"), "trust",
                        "trusted-bundles.sha256").toString()))));
        Map<String, String> fingerprints = slot == null ? Map.of() : fingerprints(jars);
        boolean reuse = slot != null && slot.reusable() && !fingerprints.containsValue(null)
                && fingerprints.equals(slot.fingerprints());
        if (slot != null && !reuse && slot.reusable()) {
            PrivateStorage.cleaned(cache); // the installation changed since: start this slot from scratch
        }
        if (reuse) {
            SlotReuse.discardBundleData(cache);
        }
        FrameworkFactory factory = ServiceLoader.load(FrameworkFactory.class).iterator().next();
        Framework framework = factory.newFramework(config);
        try {
            StartupTrace.mark("storage checked", begin);
            framework.init();
            StartupTrace.mark("framework init", begin);
            Map<String, Bundle> kept = reuse ? SlotReuse.keepInstallation(framework.getBundleContext(),
                    jars.keySet(), trust) : Map.of();
            StartupTrace.mark("installation kept", begin);
            if (kept == null) {
                // something the launcher cannot take back without a restart (an extension bundle from elsewhere)
                // or not what was recorded: start from scratch after all
                framework.stop();
                framework.waitForStop(30_000);
                PrivateStorage.cleaned(cache);
                framework = factory.newFramework(config);
                framework.init();
                kept = Map.of();
            }
            startBundles(framework, cache, slot, jars, kept, fingerprints, trust, extra, begin);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopQuietly(framework);
            throw new BundleException("interrupted while starting the framework", e);
        } catch (IOException | BundleException | RuntimeException e) {
            // a framework left running keeps the JVM alive (its dispatch thread): stop it before reporting
            stopQuietly(framework);
            throw e;
        }
        return new ArborFramework(framework, cache, temporary, slot);
    }

    private static void startBundles(Framework framework, Path cache, StorageSlot slot, Map<String, Path> jars,
                                     Map<String, Bundle> kept, Map<String, String> fingerprints, BundleTrust trust,
                                     Map<String, String> extra, long begin) throws IOException, BundleException {
        PrivateStorage.restrict(cache);
        java.util.logging.Logger.getLogger("dev.arbor.launcher").info("framework storage " + cache);
        BundleContext ctx = framework.getBundleContext();
        // before anything resolves: what the storage kept and what is installed next are checked alike
        trust.enforce(ctx);
        StartupTrace.mark("storage restricted", begin);
        framework.start();
        StartupTrace.mark("framework initialised", begin);
        List<Bundle> installed = new ArrayList<>();
        for (Map.Entry<String, Path> jar : jars.entrySet()) {
            Bundle b = kept.get(jar.getKey());
            installed.add(b != null ? b : trust.installFromInstallation(ctx, jar.getKey()));
        }
        if (slot != null && kept.isEmpty()) {
            slot.recordFingerprints(fingerprints);
        }
        StartupTrace.mark(kept.isEmpty() ? "bundles installed" : "bundles found installed", begin);
        String lazy = extra.getOrDefault(LAZY_PROPERTY, "");
        for (Bundle b : serviceLoaderProvidersFirst(installed)) {
            if (b.getHeaders().get(Constants.FRAGMENT_HOST) == null
                    && (lazy.isEmpty() || b.getSymbolicName() == null || !b.getSymbolicName().matches(lazy))) {
                try {
                    b.start();
                } catch (BundleException e) {
                    // one broken bundle must not keep the rest of the runtime down; say which and why
                    System.err.println("arbor: bundle " + b.getSymbolicName() + " did not start: " + e.getMessage());
                }
                StartupTrace.mark("started " + b.getSymbolicName(), begin);
            }
        }
    }

    private static void stopQuietly(Framework framework) {
        try {
            framework.stop();
            framework.waitForStop(30_000);
        } catch (BundleException | InterruptedException | RuntimeException e) {
            // already failing: the original error is the one to report
        }
    }

    /**
     * The location a jar of {@code bundles/} is installed under: {@code reference:}, so Felix runs it from the
     * installation instead of copying it into its storage on every start (the installation is the operator's; what
     * is installed from anywhere else is still copied and checked by {@link BundleTrust}).
     */
    static String location(Path jar) {
        return "reference:" + jar.toAbsolutePath().normalize().toUri();
    }

    private static Map<String, String> fingerprints(Map<String, Path> jars) throws IOException {
        Map<String, String> out = new java.util.TreeMap<>();
        for (Map.Entry<String, Path> jar : jars.entrySet()) {
            out.put(jar.getKey(), StorageSlot.fingerprint(jar.getValue()));
        }
        return out;
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
        boolean stopped = framework.waitForStop(30_000).getType() == org.osgi.framework.FrameworkEvent.STOPPED;
        if (slot != null) {
            if (stopped) {
                // what the bundles wrote (Config Admin's files) does not stay at rest; the next run starts without it
                SlotReuse.discardBundleData(storage);
                slot.closeCleanly();
            } else {
                slot.close(); // not known to be consistent: the next run empties it
            }
        }
        if (deleteStorage) {
            try (Stream<Path> walk = Files.walk(storage)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
