package dev.arbor.platform.deploy.internal;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import dev.arbor.platform.deploy.RefusedFiles;
import dev.arbor.platform.deploy.Unresolved;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.wiring.FrameworkWiring;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;

/**
 * Watches the deploy folder and keeps its bundles in step with it, but only for bytes the operator trusts: a jar
 * whose SHA-256 is listed in the trust policy is installed and started, a changed trusted jar updates its bundle,
 * a deleted jar uninstalls it, and anything else is refused with one log line that says how to trust it. Each jar
 * is copied before it is hashed and installed from that copy, so bytes swapped in during the check never run.
 *
 * <p>Framework properties: {@value #DEPLOY_PROPERTY} (default {@code <arbor.home>/deploy}), {@value #TRUST_PROPERTY}
 * (default {@code <arbor.etc>/trust/trusted-bundles.sha256}), {@value #POLL_PROPERTY} (default 500).
 */
@Component(immediate = true, service = RefusedFiles.class)
public class DeployWatcher implements RefusedFiles {
    static final System.Logger LOG = System.getLogger("dev.arbor.deploy");
    static final String DEPLOY_PROPERTY = "arbor.deploy";
    static final String TRUST_PROPERTY = "arbor.deploy.trust";
    static final String POLL_PROPERTY = "arbor.deploy.poll.ms";
    /**
     * Bundles installed from deploy/ get this location prefix, not a file URL: an update without bytes (a console's
     * "update" button) then cannot re-read the file behind the policy's back, and restarts can recognise them.
     */
    static final String LOCATION_PREFIX = Unresolved.DEPLOY_LOCATION_PREFIX;

    private final Map<Path, Entry> entries = new HashMap<>();
    /** Files refused now and why; read by operator tools without waiting for a scan (which may refresh for 30 s). */
    private final Map<Path, String> refusals = new ConcurrentHashMap<>();
    private BundleContext context;
    private Path folder;
    private Path trustFile;
    private Path staging;
    private TrustPolicy policy;
    private byte[] policyContent;
    private boolean firstScan = true;
    private ScheduledExecutorService poller;

    /** What the watcher knows about one file of the deploy folder. */
    private static final class Entry {
        Stamp seen;          // size and time at the last poll: a file is acted on once it stops changing
        Stamp handled;       // the stamp last evaluated
        Bundle bundle;       // the bundle installed from this file, if any
        String bundleDigest; // SHA-256 of the bytes that bundle was installed from (null: adopted, unknown)
        String refused;      // digest last refused, so a refusal is logged once per content
        String startFailure; // digest whose start failure was logged
    }

    private record Stamp(long size, long modified) {
        static Stamp of(Path file) throws IOException {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            return new Stamp(a.size(), a.lastModifiedTime().toMillis());
        }
    }

    @Activate
    void activate(BundleContext context) throws IOException {
        this.context = context;
        String home = context.getProperty("arbor.home");
        String deploy = context.getProperty(DEPLOY_PROPERTY);
        if (deploy == null && home == null) {
            LOG.log(System.Logger.Level.INFO, "neither " + DEPLOY_PROPERTY + " nor arbor.home is set: no deploy folder"
                    + " is watched");
            return;
        }
        folder = deploy != null ? Path.of(deploy) : Path.of(home, "deploy");
        String trust = context.getProperty(TRUST_PROPERTY);
        String etc = context.getProperty("arbor.etc");
        trustFile = trust != null ? Path.of(trust)
                : (etc != null ? Path.of(etc) : folder.toAbsolutePath().getParent().resolve("etc"))
                        .resolve("trust").resolve("trusted-bundles.sha256");
        File data = context.getDataFile("staging");
        staging = data != null ? data.toPath() : Files.createTempDirectory("arbor-deploy-staging-");
        Files.createDirectories(staging);
        adoptEarlierInstalls();
        long poll = Long.parseLong(Objects.requireNonNullElse(context.getProperty(POLL_PROPERTY), "500"));
        poller = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "arbor-deploy-watcher");
            t.setDaemon(true);
            return t;
        });
        poller.scheduleWithFixedDelay(this::pollSafely, 0, Math.max(poll, 10), TimeUnit.MILLISECONDS);
    }

    @Deactivate
    void deactivate() throws InterruptedException {
        if (poller != null) {
            poller.shutdownNow();
            poller.awaitTermination(10, TimeUnit.SECONDS);
        }
    }

    /** Bundles a previous watcher installed (persistent framework storage) are re-checked on the first scan. */
    private void adoptEarlierInstalls() {
        for (Bundle b : context.getBundles()) {
            String location = b.getLocation();
            if (location.startsWith(LOCATION_PREFIX)) {
                Entry e = new Entry();
                e.bundle = b;
                entries.put(folder.resolve(location.substring(LOCATION_PREFIX.length())), e);
            }
        }
    }

    private void pollSafely() {
        try {
            poll();
        } catch (IllegalStateException e) {
            // the framework is stopping under us; the next activation starts over
            LOG.log(System.Logger.Level.DEBUG, "deploy watcher stopped mid-scan: " + e.getMessage());
        } catch (RuntimeException | IOException e) {
            LOG.log(System.Logger.Level.WARNING, "deploy watcher: scanning " + folder + " failed: " + e, e);
        }
    }

    synchronized void poll() throws IOException {
        boolean policyChanged = reloadPolicy();
        Map<Path, Stamp> present = list();
        for (var it = entries.entrySet().iterator(); it.hasNext(); ) {
            var item = it.next();
            if (!present.containsKey(item.getKey())) {
                if (item.getValue().bundle != null) {
                    uninstall(item.getValue(), "uninstalled " + describe(item.getValue().bundle) + ": "
                            + item.getKey() + " was deleted");
                }
                it.remove();
                refusals.remove(item.getKey());
            }
        }
        for (Map.Entry<Path, Stamp> file : present.entrySet()) {
            Entry e = entries.computeIfAbsent(file.getKey(), k -> new Entry());
            Stamp stamp = file.getValue();
            boolean stable = stamp.equals(e.seen) || firstScan; // files present at startup were written earlier
            e.seen = stamp;
            if (!stable) {
                continue; // still being written, or just arrived: look again at the next poll
            }
            if (!stamp.equals(e.handled) || policyChanged) {
                e.handled = stamp;
                evaluate(file.getKey(), e);
            } else if (e.bundle != null) {
                startIfNeeded(file.getKey(), e);
            }
        }
        firstScan = false;
    }

    private Map<Path, Stamp> list() throws IOException {
        Map<Path, Stamp> present = new HashMap<>();
        if (!Files.isDirectory(folder)) {
            return present;
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(folder, "*.jar")) {
            for (Path file : files) {
                // hidden files are how writers stage a jar before an atomic rename
                if (file.getFileName().toString().startsWith(".") || !Files.isRegularFile(file)) {
                    continue;
                }
                try {
                    present.put(file, Stamp.of(file));
                } catch (NoSuchFileException gone) {
                    // deleted between listing and reading: the next poll sees it gone
                }
            }
        }
        return present;
    }

    /** Re-reads the policy when its content changed (or it appeared or went); true when the trusted set may differ. */
    private boolean reloadPolicy() throws IOException {
        // compared by content, not time stamps: an edit within the clock's resolution must not be missed
        byte[] content;
        try {
            content = Files.readAllBytes(trustFile);
        } catch (NoSuchFileException e) {
            content = null;
        }
        if (policy != null && Arrays.equals(content, policyContent)) {
            return false;
        }
        TrustPolicy before = policy;
        policyContent = content;
        policy = content == null ? TrustPolicy.missing()
                : TrustPolicy.parse(new String(content, StandardCharsets.UTF_8).lines().toList(), trustFile.toString());
        if (!policy.exists()) {
            LOG.log(System.Logger.Level.WARNING, "trust policy " + trustFile + " does not exist: every bundle put into "
                    + folder + " is refused until it lists the bundle's SHA-256 (one '<sha256-hex>  <comment>' per"
                    + " line)");
        } else {
            LOG.log(System.Logger.Level.INFO, "trust policy " + trustFile + ": " + policy.size()
                    + " trusted bundle digest(s)");
        }
        policy.problems().forEach(p -> LOG.log(System.Logger.Level.WARNING, "trust policy " + p));
        if (before != null) {
            revokeUntrusted();
        }
        return true;
    }

    /** Bundles whose digest left the policy are uninstalled: removing a line is how an operator revokes trust. */
    private void revokeUntrusted() {
        for (Map.Entry<Path, Entry> item : entries.entrySet()) {
            Entry e = item.getValue();
            if (e.bundle != null && e.bundleDigest != null && !policy.trusts(e.bundleDigest)) {
                uninstall(e, "uninstalled " + describe(e.bundle) + " from " + item.getKey() + ": its SHA-256 "
                        + e.bundleDigest + " is no longer listed in " + trustFile);
                e.handled = null; // the file is evaluated (and refused) again below
            }
        }
    }

    /** Copies, hashes and, if trusted, installs or updates the bundle of {@code file}. */
    private void evaluate(Path file, Entry e) throws IOException {
        Path copy;
        String digest;
        try {
            copy = Files.createTempFile(staging, "verify-", ".jar");
            digest = copyAndHash(file, copy);
        } catch (NoSuchFileException gone) {
            return; // deleted meanwhile: the next poll uninstalls
        }
        try {
            if (e.bundle != null && digest.equals(e.bundleDigest)) {
                refusals.remove(file); // back to the bytes that run
                startIfNeeded(file, e); // touched, same bytes
                return;
            }
            if (!policy.trusts(digest)) {
                refuse(file, e, digest);
                return;
            }
            e.refused = null;
            refusals.remove(file);
            try (InputStream in = Files.newInputStream(copy)) {
                if (e.bundle == null || e.bundle.getState() == Bundle.UNINSTALLED) {
                    e.bundle = context.installBundle(LOCATION_PREFIX + file.getFileName(), in);
                    e.bundleDigest = digest;
                    LOG.log(System.Logger.Level.INFO, "installed " + describe(e.bundle) + " from " + file
                            + " (trusted SHA-256 " + digest + ")");
                } else {
                    e.bundle.update(in);
                    e.bundleDigest = digest;
                    refresh(e.bundle);
                    LOG.log(System.Logger.Level.INFO, "updated " + describe(e.bundle) + " from " + file
                            + " (trusted SHA-256 " + digest + ")");
                }
            } catch (BundleException ex) {
                String reason = "trusted (SHA-256 " + digest + ") but not installable: " + ex.getMessage()
                        + "; is it an OSGi bundle with a Bundle-SymbolicName?";
                refusals.put(file, reason);
                LOG.log(System.Logger.Level.WARNING, "cannot install " + file + " (trusted SHA-256 " + digest + "): "
                        + ex.getMessage() + "; is it an OSGi bundle with a Bundle-SymbolicName?");
                return;
            }
            startIfNeeded(file, e);
        } finally {
            Files.deleteIfExists(copy);
        }
    }

    private void refuse(Path file, Entry e, String digest) {
        if (e.bundle != null && e.bundleDigest == null) {
            // installed by an earlier run, and what is there now is not trusted: nothing vouches for it
            uninstall(e, "uninstalled " + describe(e.bundle) + ": " + file + " is no longer trusted");
        }
        if (digest.equals(e.refused)) {
            return;
        }
        e.refused = digest;
        String reason = "its SHA-256 " + digest + " is not trusted; to trust it, add " + digest + " to " + trustFile
                + (e.bundle != null ? " (the previously trusted version of " + describe(e.bundle) + " keeps running)"
                : "");
        refusals.put(file, reason);
        LOG.log(System.Logger.Level.WARNING, "refused " + file + ": " + reason);
    }

    private void startIfNeeded(Path file, Entry e) {
        Bundle b = e.bundle;
        if (b == null || b.getState() == Bundle.ACTIVE || b.getState() == Bundle.STARTING
                || b.getState() == Bundle.UNINSTALLED || b.getHeaders().get(Constants.FRAGMENT_HOST) != null) {
            return;
        }
        try {
            b.start();
            e.startFailure = null;
        } catch (BundleException ex) {
            // retried at every poll (another deployed bundle may bring what it needs); said once per content
            if (!Objects.equals(e.startFailure, e.bundleDigest)) {
                e.startFailure = e.bundleDigest;
                // the resolver's own text names one requirement as a filter and not the versions on offer: say both
                String unresolved = Unresolved.explain(context, b); // null unless an import is what fails
                if (unresolved != null) {
                    LOG.log(System.Logger.Level.WARNING, unresolved);
                    LOG.log(System.Logger.Level.DEBUG, "the resolver said: " + ex.getMessage());
                } else {
                    LOG.log(System.Logger.Level.WARNING, describe(b) + " from " + file
                            + " is installed but did not start: " + ex.getMessage());
                }
            }
        }
    }

    private void uninstall(Entry e, String message) {
        try {
            e.bundle.uninstall();
            refresh(e.bundle);
            LOG.log(System.Logger.Level.INFO, message);
        } catch (BundleException ex) {
            LOG.log(System.Logger.Level.WARNING, "cannot uninstall " + describe(e.bundle) + ": " + ex.getMessage());
        }
        e.bundle = null;
        e.bundleDigest = null;
    }

    /** Refreshes {@code bundle} and its dependents and waits, so the next poll sees the new wiring. */
    private void refresh(Bundle bundle) {
        CountDownLatch done = new CountDownLatch(1);
        context.getBundle(Constants.SYSTEM_BUNDLE_LOCATION).adapt(FrameworkWiring.class)
                .refreshBundles(List.of(bundle), event -> done.countDown());
        try {
            if (!done.await(30, TimeUnit.SECONDS)) {
                LOG.log(System.Logger.Level.WARNING, "refreshing " + describe(bundle) + " took over 30 s");
            }
        } catch (InterruptedException ex) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public List<Refusal> refused() {
        return refusals.entrySet().stream().map(r -> new Refusal(r.getKey().getFileName().toString(), r.getValue()))
                .sorted(Comparator.comparing(Refusal::file)).limit(LIMIT).toList();
    }

    /** Copies {@code file} to {@code copy}, returning the SHA-256 of exactly the bytes copied. */
    static String copyAndHash(Path file, Path copy) throws IOException {
        MessageDigest sha256;
        try {
            sha256 = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException ex) {
            throw new IllegalStateException("this JVM offers no SHA-256", ex);
        }
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), sha256)) {
            Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
        }
        return HexFormat.of().formatHex(sha256.digest());
    }

    private static String describe(Bundle b) {
        return "bundle " + b.getSymbolicName() + " " + b.getVersion() + " [" + b.getBundleId() + "]";
    }
}
