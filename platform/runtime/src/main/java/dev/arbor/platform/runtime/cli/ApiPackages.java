package dev.arbor.platform.runtime.cli;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Version;
import org.osgi.framework.namespace.PackageNamespace;
import org.osgi.framework.wiring.BundleCapability;
import org.osgi.framework.wiring.BundleWiring;

/**
 * The Arbor API packages ({@code dev.arbor.api*}) this installation provides and at which versions: what a plugin's
 * {@code Import-Package} ranges must accept. Read from the framework's wiring (resolved bundles' package
 * capabilities, the system bundle's included), so it is what the resolver offers, not what a file says.
 */
final class ApiPackages {
    /** One exported package. */
    record Export(String name, Version version, String bundle) {
    }

    private ApiPackages() {
    }

    static List<Export> of(BundleContext context) {
        List<Export> exports = new ArrayList<>();
        for (Bundle b : context.getBundles()) {
            BundleWiring wiring = b.adapt(BundleWiring.class);
            if (wiring == null) {
                continue; // not resolved: it offers nothing
            }
            for (BundleCapability c : wiring.getCapabilities(PackageNamespace.PACKAGE_NAMESPACE)) {
                Object name = c.getAttributes().get(PackageNamespace.PACKAGE_NAMESPACE);
                Object version = c.getAttributes().get(PackageNamespace.CAPABILITY_VERSION_ATTRIBUTE);
                if (name instanceof String n && (n.equals("dev.arbor.api") || n.startsWith("dev.arbor.api."))) {
                    exports.add(new Export(n, version instanceof Version v ? v : Version.emptyVersion,
                            b.getSymbolicName() + " " + b.getVersion()));
                }
            }
        }
        return exports;
    }

    /** One line per package, sorted by name: {@code dev.arbor.api.sampling 1.2.0 (dev.arbor.api 0.1.0)}. */
    static List<String> lines(List<Export> exports) {
        return exports.stream().sorted(Comparator.comparing(Export::name).thenComparing(Export::version))
                .map(e -> String.format("%-32s %-8s (%s)", e.name(), e.version(), e.bundle())).toList();
    }
}
