package dev.arbor.platform.runtime.cli;

import dev.arbor.platform.deploy.RefusedFiles;
import dev.arbor.platform.deploy.Unresolved;
import java.util.List;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.namespace.PackageNamespace;
import org.osgi.framework.wiring.BundleWire;
import org.osgi.framework.wiring.BundleWiring;
import org.osgi.util.tracker.ServiceTracker;

/**
 * What {@code arbor bundles} says beyond each bundle's state, exactly as {@code /admin/bundles} and {@code
 * arbor:bundles} say it, from the deploy bundle's {@link Unresolved} and {@link RefusedFiles}: why a bundle stays
 * installed (not resolved), and which files of deploy/ are not installed and why. The runtime imports that package
 * optionally (an installation without the deploy bundle still runs); {@link #available} says whether it is wired,
 * and no other class of the command line names its types.
 */
final class BundleDiagnostics {
    static final String PACKAGE = "dev.arbor.platform.deploy";

    private final BundleContext context;

    private BundleDiagnostics(BundleContext context) {
        this.context = context;
    }

    /** True when this bundle is wired to the deploy bundle's package (so its classes can be used). */
    static boolean available(BundleContext context) {
        Bundle own = context.getBundle();
        BundleWiring wiring = own == null ? null : own.adapt(BundleWiring.class);
        if (wiring == null) {
            return false;
        }
        for (BundleWire wire : wiring.getRequiredWires(PackageNamespace.PACKAGE_NAMESPACE)) {
            if (PACKAGE.equals(wire.getCapability().getAttributes().get(PackageNamespace.PACKAGE_NAMESPACE))) {
                return true;
            }
        }
        return false;
    }

    /** The diagnostics of the framework of {@code context}, or null when the deploy package is not wired. */
    static BundleDiagnostics of(BundleContext context) {
        return available(context) ? new BundleDiagnostics(context) : null;
    }

    /** Why {@code bundle} is installed but not resolved, in one line; null for any other state. */
    String reason(Bundle bundle) {
        return Unresolved.reason(context, bundle);
    }

    /**
     * The files of deploy/ the watcher does not install and why, as {@code [file, reason]}. The watcher publishes its
     * listing after its first scan of the folder, so a command run at start-up waits for that (at most {@code
     * waitMillis}); an empty list when the watcher does not run.
     */
    List<String[]> refused(long waitMillis) throws InterruptedException {
        ServiceTracker<RefusedFiles, RefusedFiles> tracker = new ServiceTracker<>(context, RefusedFiles.class, null);
        tracker.open();
        try {
            RefusedFiles watcher = watcherStarted() ? tracker.waitForService(waitMillis) : tracker.getService();
            if (watcher == null) {
                return List.of();
            }
            return watcher.refused().stream().map(r -> new String[] {r.file(), r.reason()}).toList();
        } finally {
            tracker.close();
        }
    }

    /** True when the deploy bundle is active or starting: its watcher's listing is on its way. */
    private boolean watcherStarted() {
        for (Bundle b : context.getBundles()) {
            if (PACKAGE.equals(b.getSymbolicName())) {
                return b.getState() == Bundle.ACTIVE || b.getState() == Bundle.STARTING;
            }
        }
        return false;
    }
}
