package dev.arbor.platform.runtime.cli;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.Version;
import org.osgi.framework.namespace.PackageNamespace;
import org.osgi.framework.wiring.BundleCapability;
import org.osgi.framework.wiring.BundleWiring;

/**
 * The packages of the Arbor API this installation provides and at which versions: what a plugin's
 * {@code Import-Package} ranges must accept. The API is every package the API bundle exports ({@code dev.arbor.api}
 * and its sub-packages, and {@code dev.arbor.backend.support} for backends), whatever their names: the API bundle is
 * the one that exports {@code dev.arbor.api}, and all of its exports are listed. Read from the framework's wiring
 * (resolved bundles' package capabilities), so it is what the resolver offers, not what a file says.
 */
final class ApiPackages {
    /** The package that identifies the API bundle. */
    static final String API_PACKAGE = "dev.arbor.api";

    /** One exported package and the bundle that exports it. */
    record Export(String name, Version version, String bundle) {
    }

    /** A package capability of an installed bundle, before the API's are picked out. */
    record Offer(long bundleId, Export export) {
    }

    private ApiPackages() {
    }

    static List<Export> of(BundleContext context) {
        List<Offer> offers = new ArrayList<>();
        for (Bundle b : context.getBundles()) {
            BundleWiring wiring = b.adapt(BundleWiring.class);
            if (wiring == null) {
                continue; // not resolved: it offers nothing
            }
            for (BundleCapability c : wiring.getCapabilities(PackageNamespace.PACKAGE_NAMESPACE)) {
                Object name = c.getAttributes().get(PackageNamespace.PACKAGE_NAMESPACE);
                Object version = c.getAttributes().get(PackageNamespace.CAPABILITY_VERSION_ATTRIBUTE);
                if (name instanceof String n) {
                    offers.add(new Offer(b.getBundleId(), new Export(n, version instanceof Version v ? v
                            : Version.emptyVersion, b.getSymbolicName() + " " + b.getVersion())));
                }
            }
        }
        return select(offers);
    }

    /**
     * The exports of every bundle that exports {@code dev.arbor.api} (two API bundles side by side are both
     * listed). Where that is the system bundle (an embedding that puts the API on the framework's class path, as the
     * test harness does), only its {@code dev.arbor.*} packages: the system bundle exports the JDK's and the
     * framework's packages too.
     */
    static List<Export> select(List<Offer> offers) {
        Set<Long> apiBundles = offers.stream().filter(o -> o.export().name().equals(API_PACKAGE))
                .map(Offer::bundleId).collect(Collectors.toSet());
        return offers.stream().filter(o -> apiBundles.contains(o.bundleId()))
                .filter(o -> o.bundleId() != Constants.SYSTEM_BUNDLE_ID || o.export().name().startsWith("dev.arbor."))
                .map(Offer::export).toList();
    }

    /** One line per package, sorted by name: {@code dev.arbor.api.sampling 1.2.0 (dev.arbor.api 1.4.0)}. */
    static List<String> lines(List<Export> exports) {
        return exports.stream().sorted(Comparator.comparing(Export::name).thenComparing(Export::version))
                .map(e -> String.format("%-32s %-8s (%s)", e.name(), e.version(), e.bundle())).toList();
    }
}
