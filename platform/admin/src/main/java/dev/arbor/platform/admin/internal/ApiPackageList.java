package dev.arbor.platform.admin.internal;

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
 * What {@code GET /admin/version} and {@code arbor:version} show, as {@code arbor version} does on the command line:
 * Arbor's version and every package the API bundle exports ({@code dev.arbor.api.*} and the backends'
 * {@code dev.arbor.backend.support}), at the versions a plugin's {@code Import-Package} must accept. The API bundle
 * is the one that exports {@code dev.arbor.api}; its exports are read from the framework's wiring, so this is what
 * the resolver offers plugins. (The runtime's CLI applies the same rule; the admin bundle does not import the
 * runtime's private packages, hence its own copy of these few lines.)
 */
final class ApiPackageList {
    /** The package that identifies the API bundle. */
    static final String API_PACKAGE = "dev.arbor.api";

    /** One package the API exports; {@code bundle} is the exporting bundle's symbolic name and version. */
    record ApiPackage(String name, String version, String bundle) {
    }

    /** A package capability of an installed bundle. */
    record Offer(long bundleId, ApiPackage pkg) {
    }

    /** The listing: Arbor's version and the API's packages sorted by name. */
    record Listing(String arbor, List<ApiPackage> api) {
        /** Lines for a console: {@code dev.arbor.api.sampling 1.2.0 (dev.arbor.api 1.4.0)}. */
        List<String> lines() {
            List<String> out = new ArrayList<>();
            out.add("Arbor " + arbor);
            out.add("API packages:");
            api.forEach(p -> out.add(String.format("  %-32s %-8s (%s)", p.name(), p.version(), p.bundle())));
            return out;
        }
    }

    private ApiPackageList() {
    }

    static Listing of(BundleContext context) {
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
                    offers.add(new Offer(b.getBundleId(), new ApiPackage(n, String.valueOf(version instanceof Version v
                            ? v : Version.emptyVersion), b.getSymbolicName() + " " + b.getVersion())));
                }
            }
        }
        return new Listing(context.getBundle().getVersion().toString(), select(offers));
    }

    /**
     * The exports of every bundle that exports {@code dev.arbor.api}, by package name. Where that is the system
     * bundle (the API on the framework's class path, as in the test harness), only its {@code dev.arbor.*} packages:
     * the system bundle exports the JDK's and the framework's as well.
     */
    static List<ApiPackage> select(List<Offer> offers) {
        Set<Long> apiBundles = offers.stream().filter(o -> o.pkg().name().equals(API_PACKAGE))
                .map(Offer::bundleId).collect(Collectors.toSet());
        return offers.stream().filter(o -> apiBundles.contains(o.bundleId()))
                .filter(o -> o.bundleId() != Constants.SYSTEM_BUNDLE_ID || o.pkg().name().startsWith("dev.arbor."))
                .map(Offer::pkg)
                .sorted(Comparator.comparing(ApiPackage::name).thenComparing(p -> Version.parseVersion(p.version())))
                .toList();
    }
}
