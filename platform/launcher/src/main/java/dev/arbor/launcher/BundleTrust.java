package dev.arbor.launcher;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleEvent;
import org.osgi.framework.BundleException;
import org.osgi.framework.SynchronousBundleListener;
import org.osgi.framework.hooks.resolver.ResolverHook;
import org.osgi.framework.hooks.resolver.ResolverHookFactory;
import org.osgi.framework.wiring.BundleCapability;
import org.osgi.framework.wiring.BundleRequirement;
import org.osgi.framework.wiring.BundleRevision;

/**
 * The one trust policy for every way code enters the framework (deploy/, the Web Console, Gogo, a bundle's own
 * {@code installBundle}): a bundle revision may resolve, and so run, only when
 * <ul>
 *   <li>the launcher installed it from the installation's {@code bundles/} folder (the installation is the
 *   operator's), or its bytes are those of a jar in that folder (a reinstall or update from there), or</li>
 *   <li>the SHA-256 of its bytes is listed in the trust policy ({@code etc/trust/trusted-bundles.sha256}).</li>
 * </ul>
 * Anything else stays installed but can never resolve or start; the refusal is logged with the digest and how to
 * trust it (adding the line lets it resolve at the next start attempt). Registered by the launcher on the system
 * bundle, so no bundle can stop or unregister it. Installs, updates and uninstalls after launch are logged on
 * {@value #AUDIT_LOGGER}, which the launcher shows at its default level.
 */
final class BundleTrust implements ResolverHookFactory, SynchronousBundleListener {
    static final String AUDIT_LOGGER = "dev.arbor.audit";
    private static final System.Logger AUDIT = System.getLogger(AUDIT_LOGGER);

    private final Path installation;
    private final TrustedDigests policy;
    /** Revisions whose bytes come from the installation; weak: a revision leaves when its bundle is refreshed away. */
    private final Set<BundleRevision> fromInstallation = Collections.synchronizedSet(
            Collections.newSetFromMap(new WeakHashMap<>()));
    private final Map<BundleRevision, String> digests = Collections.synchronizedMap(new WeakHashMap<>());
    private final ThreadLocal<Boolean> launching = ThreadLocal.withInitial(() -> false);

    BundleTrust(Path bundlesFolder, Path trustFile) {
        this.installation = bundlesFolder.toAbsolutePath().normalize();
        this.policy = new TrustedDigests(trustFile);
    }

    /** Puts the policy in force on {@code system} (the system bundle's context), before anything is installed. */
    void enforce(BundleContext system) {
        system.addBundleListener(this);
        system.registerService(ResolverHookFactory.class, this, null);
    }

    /**
     * Installs a jar of the installation's {@code bundles/} folder from {@code location} ({@code file:} or
     * {@code reference:file:} naming it) as the operator's own (not hashed, not logged).
     */
    Bundle installFromInstallation(BundleContext context, String location) throws BundleException {
        launching.set(true);
        try {
            Bundle b = context.installBundle(location);
            fromInstallation.add(b.adapt(BundleRevision.class));
            return b;
        } finally {
            launching.set(false);
        }
    }

    /**
     * Counts {@code bundle}, found installed in a reused framework storage, as the operator's own: only for a bundle
     * whose current revision runs from the {@code bundles/} jar its location names (not from bytes an update gave it),
     * which is checked here. False when it does not.
     */
    boolean adoptFromInstallation(Bundle bundle) {
        BundleRevision revision = bundle.adapt(BundleRevision.class);
        Path own = installationJar(bundle.getLocation());
        Path runsFrom = revision == null ? null : StoredBundleJar.of(revision);
        if (own == null || runsFrom == null || !own.equals(runsFrom.toAbsolutePath().normalize())) {
            return false;
        }
        fromInstallation.add(revision);
        return true;
    }

    @Override
    public void bundleChanged(BundleEvent event) {
        Bundle b = event.getBundle();
        switch (event.getType()) {
            case BundleEvent.INSTALLED, BundleEvent.UPDATED -> {
                if (launching.get()) {
                    return;
                }
                String verb = event.getType() == BundleEvent.INSTALLED ? "installed" : "updated";
                BundleRevision revision = b.adapt(BundleRevision.class);
                String why = trustedBecause(revision);
                if (why != null) {
                    AUDIT.log(System.Logger.Level.INFO, verb + " " + describe(b) + " from " + b.getLocation() + " ("
                            + why + ")");
                } else {
                    String digest = digests.get(revision);
                    AUDIT.log(System.Logger.Level.WARNING, "refused " + describe(b) + " " + verb + " from "
                            + b.getLocation() + ": " + (digest == null
                            ? "its bytes cannot be read as one jar; it cannot resolve or start"
                            : "its SHA-256 " + digest + " is not listed in " + policy.file() + "; it cannot resolve"
                            + " or start. To trust it, add '" + digest + "  " + b.getSymbolicName() + "' to "
                            + policy.file() + " and start it again; else uninstall it"));
                }
            }
            case BundleEvent.UNINSTALLED -> AUDIT.log(System.Logger.Level.INFO, "uninstalled " + describe(b)
                    + " (from " + b.getLocation() + ")");
            default -> {
                // starts and stops are the runtime's ordinary life, not a change of the code that may run
            }
        }
    }

    @Override
    public ResolverHook begin(Collection<BundleRevision> triggers) {
        return new ResolverHook() {
            @Override
            public void filterResolvable(Collection<BundleRevision> candidates) {
                candidates.removeIf(r -> trustedBecause(r) == null);
            }

            @Override
            public void filterSingletonCollisions(BundleCapability singleton,
                                                    Collection<BundleCapability> collisionCandidates) {
            }

            @Override
            public void filterMatches(BundleRequirement requirement, Collection<BundleCapability> candidates) {
            }

            @Override
            public void end() {
            }
        };
    }

    /** Why {@code revision} may run, or null when nothing vouches for it. */
    String trustedBecause(BundleRevision revision) {
        if (revision == null) {
            return null;
        }
        Bundle bundle = revision.getBundle();
        if (bundle.getBundleId() == 0 || fromInstallation.contains(revision)) {
            return "part of the installation";
        }
        String digest = digestOf(revision);
        if (digest == null) {
            return null;
        }
        if (policy.trusts(digest)) {
            return "SHA-256 " + digest + " listed in " + policy.file();
        }
        Path own = installationJar(bundle.getLocation());
        try {
            if (own != null && Files.isRegularFile(own) && digest.equals(StoredBundleJar.sha256(own))) {
                fromInstallation.add(revision);
                return "the bytes of " + own + ", part of the installation";
            }
        } catch (IOException e) {
            return null;
        }
        return null;
    }

    private String digestOf(BundleRevision revision) {
        String known = digests.get(revision);
        if (known != null) {
            return known;
        }
        Path jar = StoredBundleJar.of(revision);
        if (jar == null) {
            return null;
        }
        try {
            String digest = StoredBundleJar.sha256(jar);
            digests.put(revision, digest);
            return digest;
        } catch (IOException e) {
            return null;
        }
    }

    /** The jar of the installation's {@code bundles/} folder that {@code location} names, else null. */
    private Path installationJar(String location) {
        String l = location.startsWith("reference:") ? location.substring("reference:".length()) : location;
        if (!l.startsWith("file:")) {
            return null;
        }
        try {
            Path p = Path.of(URI.create(l)).toAbsolutePath().normalize();
            return installation.equals(p.getParent()) ? p : null;
        } catch (IllegalArgumentException | java.nio.file.FileSystemNotFoundException e) {
            return null;
        }
    }

    private static String describe(Bundle b) {
        return "bundle " + b.getSymbolicName() + " " + b.getVersion() + " [" + b.getBundleId() + "]";
    }
}
