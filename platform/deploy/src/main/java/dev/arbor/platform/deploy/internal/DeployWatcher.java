package dev.arbor.platform.deploy.internal;

import dev.arbor.api.PartProperties;
import dev.arbor.platform.deploy.BundleFile;
import dev.arbor.platform.deploy.RefusedFiles;
import dev.arbor.platform.deploy.Unresolved;
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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.ServiceRegistration;
import org.osgi.framework.Version;
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
 * <p>Versioned file names ({@code my-plugin-1.0.1.jar} beside {@code my-plugin-1.0.0.jar}): of the trusted files
 * that hold one {@code Bundle-SymbolicName}, only the highest {@code Bundle-Version} is installed. A newer file is
 * installed and started first; the older bundle is uninstalled only once the newer one is active and registers
 * every pipeline part ({@code arbor.part}) the older one registers, so no request finds the part missing, and the
 * hand-over is logged naming both files. The older file stays in the folder, unused and listed as superseded;
 * deleting the newer file (or revoking its digest) installs the older again before the newer leaves: a roll-back.
 * Two files with the same name and version cannot both be installed (OSGi): the one installed first stays.
 *
 * <p>Framework properties: {@value #DEPLOY_PROPERTY} (default {@code <arbor.home>/deploy}), {@value #TRUST_PROPERTY}
 * (default {@code <arbor.etc>/trust/trusted-bundles.sha256}), {@value #POLL_PROPERTY} (default 500).
 */
@Component(immediate = true, service = {}) // it registers RefusedFiles itself, after its first scan
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
    /** Files not installed now and why, rebuilt by every scan; read by operator tools without waiting for a scan. */
    private volatile List<Refusal> refusals = List.of();
    private BundleContext context;
    private Path folder;
    private Path trustFile;
    private Path staging;
    private TrustPolicy policy;
    private byte[] policyContent;
    private boolean firstScan = true;
    private ScheduledExecutorService poller;
    private ServiceRegistration<RefusedFiles> registration;

    /** What the watcher knows about one file of the deploy folder. */
    private static final class Entry {
        Stamp seen;          // size and time at the last poll: a file is acted on once it stops changing
        Stamp handled;       // the stamp last examined
        // the file's content as last examined
        String digest;       // its SHA-256 (null: not examined yet, or unreadable)
        boolean trusted;     // the policy lists digest
        BundleFile content;  // name and version, when trusted and a bundle; else null
        Path staged;         // the verified copy of that content, until the end of the scan that made it
        String problem;      // why trusted content cannot be installed (null: none known)
        // what runs
        Bundle bundle;       // the bundle installed from this file, if any
        String bundleDigest; // SHA-256 of the bytes that bundle was installed from (null: adopted, unknown)
        // said once each
        String refused;      // digest whose refusal was logged
        String startFailure; // digest whose start failure was logged
        String note;         // last supersede / wait message logged for this file
        String reason;       // why it is not installed now (the operator tools' listing), null when it is
    }

    private record Stamp(long size, long modified) {
        static Stamp of(Path file) throws IOException {
            BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
            return new Stamp(a.size(), a.lastModifiedTime().toMillis());
        }
    }

    /** A file's claim to be installed: its bundle name and version, from its content or from what runs. */
    private record Offer(Path file, Entry entry, String symbolicName, Version version, boolean fromContent) {
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
        synchronized (this) {
            if (registration != null) {
                try {
                    registration.unregister();
                } catch (IllegalStateException alreadyGone) {
                    // the framework unregisters a stopping bundle's services itself
                }
                registration = null;
            }
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
        } finally {
            announce();
        }
    }

    /** Registers the listing once the first scan is over: a tool that finds it sees the files present at start. */
    private synchronized void announce() {
        if (registration == null && !Thread.currentThread().isInterrupted()) {
            try {
                registration = context.registerService(RefusedFiles.class, this, null);
            } catch (IllegalStateException stopping) {
                // the bundle is stopping: nothing to announce
            }
        }
    }

    synchronized void poll() throws IOException {
        boolean policyChanged = reloadPolicy();
        Map<Path, Stamp> present = list();
        Set<Path> gone = new HashSet<>(entries.keySet());
        gone.removeAll(present.keySet());
        try {
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
                    examine(file.getKey(), e);
                }
            }
            reconcile(gone);
        } finally {
            for (Entry e : entries.values()) {
                unstage(e);
            }
        }
        gone.forEach(entries::remove);
        refusals = entries.entrySet().stream().filter(x -> x.getValue().reason != null)
                .map(x -> new Refusal(x.getKey().getFileName().toString(), x.getValue().reason))
                .sorted(Comparator.comparing(Refusal::file)).limit(LIMIT).toList();
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
        policyContent = content;
        policy = content == null ? TrustPolicy.missing()
                : TrustPolicy.parse(new String(content, StandardCharsets.UTF_8).lines().toList(), trustFile.toString());
        if (!policy.exists()) {
            LOG.log(System.Logger.Level.WARNING, "trust policy " + trustFile + " does not exist: every bundle put into "
                    + folder + " is refused until it lists the bundle's SHA-256 (one '<sha256-hex>  <comment>' per"
                    + " line; 'arbor trust add FILE' writes one)");
        } else {
            LOG.log(System.Logger.Level.INFO, "trust policy " + trustFile + ": " + policy.size()
                    + " trusted bundle digest(s)");
        }
        policy.problems().forEach(p -> LOG.log(System.Logger.Level.WARNING, "trust policy " + p));
        return true;
    }

    /** Copies and hashes {@code file}; records whether the policy trusts it and, if so, which bundle it holds. */
    private void examine(Path file, Entry e) throws IOException {
        unstage(e);
        Path copy = Files.createTempFile(staging, "verify-", ".jar");
        String digest;
        try {
            digest = copyAndHash(file, copy);
        } catch (NoSuchFileException gone) {
            Files.deleteIfExists(copy);
            return; // deleted meanwhile: the next poll sees it gone
        }
        e.digest = digest;
        e.staged = copy;
        e.content = null;
        e.problem = null;
        e.trusted = policy.trusts(digest);
        if (!e.trusted) {
            refuse(file, e, digest);
            return;
        }
        e.refused = null;
        try {
            BundleFile read = BundleFile.withDigest(copy, digest);
            if (read.isBundle()) {
                e.content = read;
            } else {
                e.problem = "trusted (SHA-256 " + digest + ") but not installable: its manifest names no"
                        + " Bundle-SymbolicName; is it an OSGi bundle (built with bnd)?";
            }
        } catch (IOException | IllegalArgumentException ex) {
            e.problem = "trusted (SHA-256 " + digest + ") but not installable: " + ex.getMessage()
                    + "; is it an OSGi bundle with a Bundle-SymbolicName?";
        }
        if (e.problem != null) {
            LOG.log(System.Logger.Level.WARNING, "cannot install " + file + ": " + e.problem);
        }
    }

    private void refuse(Path file, Entry e, String digest) {
        if (digest.equals(e.refused)) {
            return;
        }
        e.refused = digest;
        String reason = untrustedReason(file, e, digest);
        LOG.log(System.Logger.Level.WARNING, "refused " + file + ": " + reason);
    }

    private String untrustedReason(Path file, Entry e, String digest) {
        return "its SHA-256 " + digest + " is not trusted; to trust it, add " + digest + " to " + trustFile
                + " ('arbor trust add " + folder.getFileName().resolve(file.getFileName()) + "' does)"
                + (e.bundle != null && e.bundleDigest != null && policy.trusts(e.bundleDigest)
                ? " (the previously trusted version of " + describe(e.bundle) + " keeps running)" : "");
    }

    /**
     * Brings what runs in step with the folder: per bundle name, the highest version offered is installed and
     * started, then older versions hand over, then bundles whose file went or whose digest is no longer trusted
     * leave. Installing first and uninstalling last is what keeps a part served throughout a redeploy.
     */
    private void reconcile(Set<Path> gone) throws IOException {
        Map<String, List<Offer>> groups = new TreeMap<>();
        for (Map.Entry<Path, Entry> item : entries.entrySet()) {
            Entry e = item.getValue();
            e.reason = null;
            Offer offer = gone.contains(item.getKey()) ? null : offer(item.getKey(), e);
            if (offer != null) {
                groups.computeIfAbsent(offer.symbolicName(), k -> new ArrayList<>()).add(offer);
            }
        }
        Set<Entry> keep = new HashSet<>();
        for (List<Offer> group : groups.values()) {
            group.sort(Comparator.comparing(Offer::version).reversed()
                    .thenComparing(o -> o.entry().bundle == null || o.entry().bundle.getState() == Bundle.UNINSTALLED)
                    .thenComparing(Offer::file));
            // highest version first; versions below it are installed too while none above serves (a newer one that
            // does not resolve must not leave the part unserved), and hand over once one does
            Offer serving = null;
            List<Offer> installed = new ArrayList<>();
            for (Offer candidate : group) {
                if (serving != null) {
                    if (!handOver(serving, candidate)) {
                        keep.add(candidate.entry()); // still serving until the winner serves everything it does
                    }
                    continue;
                }
                Offer twin = installed.stream().filter(o -> o.version().equals(candidate.version())).findFirst()
                        .orElse(null);
                if (twin != null) {
                    handOver(twin, candidate); // OSGi installs one bundle per name and version
                    continue;
                }
                if (!install(candidate)) {
                    continue; // not installable: the next version down serves instead
                }
                keep.add(candidate.entry());
                installed.add(candidate);
                startIfNeeded(candidate.file(), candidate.entry());
                if (installed.size() > 1) {
                    Offer top = installed.get(0);
                    note(candidate.entry(), folder.getFileName().resolve(top.file().getFileName()) + " ("
                            + top.symbolicName() + " " + top.version() + ") does not serve ("
                            + missingFrom(top.entry().bundle, candidate.entry().bundle) + "): " + describe(
                            candidate.entry().bundle) + " from " + folder.getFileName().resolve(
                            candidate.file().getFileName()) + " serves until it does");
                }
                if (missingFrom(candidate.entry().bundle, null) == null) {
                    serving = candidate;
                }
            }
        }
        // what is left leaves after its successors started: deleted, revoked or replaced files
        for (Map.Entry<Path, Entry> item : entries.entrySet()) {
            Entry e = item.getValue();
            Path file = item.getKey();
            if (e.bundle != null && !keep.contains(e)) {
                uninstall(e, removalMessage(file, e, gone.contains(file)));
            }
            if (!gone.contains(file) && e.reason == null) {
                e.reason = e.problem != null ? e.problem
                        : e.digest != null && !e.trusted ? untrustedReason(file, e, e.digest) : null;
            }
        }
    }

    /** What {@code e} offers to run, or null: its trusted content, else the trusted bytes it runs already. */
    private Offer offer(Path file, Entry e) {
        if (e.trusted && e.content != null && e.problem == null) {
            return new Offer(file, e, e.content.symbolicName(), e.content.version(), true);
        }
        Bundle b = e.bundle;
        if (b != null && b.getState() != Bundle.UNINSTALLED && e.bundleDigest != null
                && policy.trusts(e.bundleDigest)) {
            // the file changed to bytes that are not trusted (or not a bundle): the trusted version keeps running
            return new Offer(file, e, b.getSymbolicName(), b.getVersion(), false);
        }
        return null;
    }

    /** Makes {@code offer} what runs from its file; false when that cannot be done now (the reason is recorded). */
    private boolean install(Offer offer) throws IOException {
        Entry e = offer.entry();
        Path file = offer.file();
        if (!offer.fromContent()) {
            return true; // its running bundle is the offer
        }
        boolean installed = e.bundle != null && e.bundle.getState() != Bundle.UNINSTALLED;
        if (installed && e.digest.equals(e.bundleDigest)) {
            return true;
        }
        if (e.staged == null) {
            // unchanged since an earlier scan (e.g. superseded until now): copy and check the bytes again
            String before = e.digest;
            examine(file, e);
            if (e.staged == null || !before.equals(e.digest) || e.content == null) {
                return false; // deleted or changed meanwhile: the next scan sees it
            }
        }
        try (InputStream in = Files.newInputStream(e.staged)) {
            if (!installed) {
                e.bundle = context.installBundle(LOCATION_PREFIX + file.getFileName(), in);
                e.bundleDigest = e.digest;
                LOG.log(System.Logger.Level.INFO, "installed " + describe(e.bundle) + " from " + file
                        + " (trusted SHA-256 " + e.digest + ")");
            } else {
                e.bundle.update(in);
                e.bundleDigest = e.digest;
                refresh(e.bundle);
                LOG.log(System.Logger.Level.INFO, "updated " + describe(e.bundle) + " from " + file
                        + " (trusted SHA-256 " + e.digest + ")");
            }
            return true;
        } catch (BundleException ex) {
            if (stopping()) {
                // a one-shot command's framework stops while its watcher scans: nothing to say about the jar
                throw new IllegalStateException("the framework is stopping", ex);
            }
            e.problem = "trusted (SHA-256 " + e.digest + ") but not installable: " + ex.getMessage()
                    + (ex.getType() == BundleException.DUPLICATE_BUNDLE_ERROR
                    ? "; another bundle of this installation has the same name and version: raise Bundle-Version"
                    : "; is it an OSGi bundle with a Bundle-SymbolicName?");
            LOG.log(System.Logger.Level.WARNING, "cannot install " + file + ": " + e.problem);
            if (installed) {
                e.reason = e.problem;
                return true; // the update failed: the bytes installed before keep running
            }
            return false;
        }
    }

    /**
     * Settles {@code other}, an offer of the same bundle name that ranks below {@code winner}: true when it needs no
     * bundle (not installed, or uninstalled now because the winner serves every part it served); false while it must
     * keep serving.
     */
    private boolean handOver(Offer winner, Offer other) {
        Entry e = other.entry();
        String source = folder.getFileName().resolve(other.file().getFileName()).toString();
        String winnerSource = folder.getFileName().resolve(winner.file().getFileName()).toString();
        String name = winner.symbolicName();
        String reason = winner.version().equals(other.version())
                ? "not installed: " + winnerSource + " holds the same bundle, " + name + " " + other.version()
                + ", and OSGi installs one bundle per name and version; delete one of the files, or raise"
                + " Bundle-Version"
                : "not installed: superseded by " + winnerSource + " (" + name + " " + winner.version()
                + ", a higher version of the same bundle); delete this file, or delete " + winnerSource
                + " to go back to " + other.version();
        String idle = source + " (" + name + " " + other.version() + ") is " + reason;
        if (e.bundle == null || e.bundle.getState() == Bundle.UNINSTALLED) {
            e.reason = reason;
            note(e, idle);
            return true;
        }
        String missing = missingFrom(winner.entry().bundle, e.bundle);
        if (missing != null) {
            note(e, winnerSource + " (" + name + " " + winner.version() + ") does not serve yet (" + missing
                    + "): " + describe(e.bundle) + " from " + source + " keeps serving until it does");
            return false;
        }
        Bundle old = e.bundle;
        uninstall(e, winnerSource + " (" + name + " " + winner.version() + ") supersedes " + source + " (" + name + " "
                + other.version() + "): uninstalled " + describe(old) + " once " + winner.version()
                + " served every part it served; " + source + " stays unused (delete it, or delete " + winnerSource
                + " to go back to " + other.version() + ")");
        e.reason = reason;
        e.note = idle; // said by the line above
        return true;
    }

    /**
     * What {@code older} offers that {@code newer} does not yet, e.g. "not active" or "no LogitsProcessorFactory
     * 'top-k'", or null when the newer bundle is active (resolved, for a fragment) and registers every pipeline part
     * ({@code arbor.part}) under every interface the older one (if any) registers it.
     */
    static String missingFrom(Bundle newer, Bundle older) {
        boolean fragment = newer.getHeaders().get(Constants.FRAGMENT_HOST) != null;
        if (newer.getState() != Bundle.ACTIVE && !(fragment && newer.getState() == Bundle.RESOLVED)) {
            return "it is " + state(newer.getState()) + ", not active";
        }
        Map<String, Set<Object>> offered = new LinkedHashMap<>();
        ServiceReference<?>[] newRefs = newer.getRegisteredServices();
        for (ServiceReference<?> r : newRefs == null ? new ServiceReference<?>[0] : newRefs) {
            Object part = r.getProperty(PartProperties.NAME);
            if (part != null) {
                for (String type : (String[]) r.getProperty(Constants.OBJECTCLASS)) {
                    offered.computeIfAbsent(type, t -> new HashSet<>()).add(part);
                }
            }
        }
        if (older == null) {
            return null;
        }
        ServiceReference<?>[] oldRefs = older.getRegisteredServices();
        for (ServiceReference<?> r : oldRefs == null ? new ServiceReference<?>[0] : oldRefs) {
            Object part = r.getProperty(PartProperties.NAME);
            if (part == null) {
                continue;
            }
            for (String type : (String[]) r.getProperty(Constants.OBJECTCLASS)) {
                if (!offered.getOrDefault(type, Set.of()).contains(part)) {
                    return "it registers no " + type.substring(type.lastIndexOf('.') + 1) + " '" + part + "'";
                }
            }
        }
        return null;
    }

    private String removalMessage(Path file, Entry e, boolean deleted) {
        String successor = successorOf(file, e);
        String tail = successor == null ? "" : "; " + successor + " serves in its place";
        if (deleted) {
            return "uninstalled " + describe(e.bundle) + ": " + file + " was deleted" + tail;
        }
        if (e.bundleDigest == null) {
            // installed by an earlier run, and what is there now is not trusted: nothing vouches for it
            return "uninstalled " + describe(e.bundle) + ": " + file + " is no longer trusted" + tail;
        }
        if (!policy.trusts(e.bundleDigest)) {
            return "uninstalled " + describe(e.bundle) + " from " + file + ": its SHA-256 " + e.bundleDigest
                    + " is no longer listed in " + trustFile + tail;
        }
        return "uninstalled " + describe(e.bundle) + " from " + file + tail;
    }

    /** The bundle from another deploy file with the same name that runs now, described, or null. */
    private String successorOf(Path file, Entry leaving) {
        for (Map.Entry<Path, Entry> item : entries.entrySet()) {
            Bundle b = item.getValue().bundle;
            if (item.getValue() != leaving && b != null && b.getState() != Bundle.UNINSTALLED
                    && Objects.equals(b.getSymbolicName(), leaving.bundle.getSymbolicName())) {
                return describe(b) + " from " + item.getKey();
            }
        }
        return null;
    }

    /** Logs {@code message} once per file until it changes. */
    private static void note(Entry e, String message) {
        if (!message.equals(e.note)) {
            e.note = message;
            LOG.log(System.Logger.Level.INFO, message);
        }
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
            if (stopping()) {
                throw new IllegalStateException("the framework is stopping", ex);
            }
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
        e.startFailure = null;
    }

    /** True when the framework or this bundle is stopping (installs and starts fail then, for no fault of a jar). */
    private boolean stopping() {
        try {
            Bundle system = context.getBundle(Constants.SYSTEM_BUNDLE_LOCATION);
            return system.getState() != Bundle.ACTIVE || context.getBundle().getState() == Bundle.STOPPING;
        } catch (IllegalStateException invalidContext) {
            return true;
        }
    }

    private static void unstage(Entry e) throws IOException {
        if (e.staged != null) {
            Files.deleteIfExists(e.staged);
            e.staged = null;
        }
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
        return refusals;
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

    private static String state(int state) {
        return switch (state) {
            case Bundle.INSTALLED -> "installed (not resolved)";
            case Bundle.RESOLVED -> "resolved";
            case Bundle.STARTING -> "starting";
            case Bundle.STOPPING -> "stopping";
            case Bundle.UNINSTALLED -> "uninstalled";
            default -> "active";
        };
    }

    private static String describe(Bundle b) {
        return "bundle " + b.getSymbolicName() + " " + b.getVersion() + " [" + b.getBundleId() + "]";
    }
}
