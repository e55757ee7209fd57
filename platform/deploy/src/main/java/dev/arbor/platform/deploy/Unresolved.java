package dev.arbor.platform.deploy;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Filter;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.Version;
import org.osgi.framework.namespace.PackageNamespace;
import org.osgi.framework.wiring.BundleCapability;
import org.osgi.framework.wiring.BundleRequirement;
import org.osgi.framework.wiring.BundleRevision;
import org.osgi.framework.wiring.BundleWiring;
import org.osgi.resource.Namespace;

/**
 * Says in one line why a bundle does not resolve when the cause is an {@code Import-Package} the installation cannot
 * satisfy: each such package with the version range asked for and the versions the installation exports. The
 * framework's own resolver message names one requirement as a filter and never the versions available, which is
 * what a plugin author needs to see that the plugin was built against another API.
 */
public final class Unresolved {
    /** Where the deploy watcher installs from: bundle locations with this prefix name a file of the deploy folder. */
    public static final String DEPLOY_LOCATION_PREFIX = "arbor-deploy:";

    private static final Pattern BOUND = Pattern.compile("\\((!?)\\(?version(>=|<=)([^)]+)\\)");

    /**
     * Said of an installed bundle whose imports are all available: the cause is not an import.
     *
     * @since 1.1.0
     */
    public static final String OTHER_CAUSE = "not resolved although every package it imports is exported here:"
            + " either its SHA-256 is not trusted (the audit log's 'refused' line says how to trust it) or another"
            + " requirement (Require-Capability, Require-Bundle, a fragment host, a uses constraint) is not met;"
            + " starting it logs the framework's reason";

    private Unresolved() {
    }

    /**
     * Why {@code bundle} is in state INSTALLED, in one line for operator tools ({@code /admin/bundles}, {@code arbor
     * bundles}, {@code arbor:bundles}): {@link #explain} when an import is the cause, else {@link #OTHER_CAUSE}; null
     * for a bundle in any other state.
     *
     * @since 1.1.0
     */
    public static String reason(BundleContext context, Bundle bundle) {
        if (bundle.getState() != Bundle.INSTALLED) {
            return null;
        }
        String unresolved = explain(context, bundle);
        return unresolved != null ? unresolved : OTHER_CAUSE;
    }

    /** One import the installation cannot satisfy: the package, the range asked for and the versions exported. */
    public record MissingImport(String packageName, String range, List<String> exported) {
        public MissingImport {
            exported = List.copyOf(exported);
        }
    }

    /**
     * The reason {@code bundle} (in state INSTALLED) does not resolve, or null when it is not INSTALLED or every
     * mandatory import is available (the cause is then elsewhere and the framework's message must be read).
     *
     * @param context any live bundle context of the framework (it lists the bundles whose exports are looked at)
     */
    public static String explain(BundleContext context, Bundle bundle) {
        if (bundle.getState() != Bundle.INSTALLED) {
            return null;
        }
        BundleRevision revision = bundle.adapt(BundleRevision.class);
        if (revision == null) {
            return null;
        }
        List<BundleCapability> exports = exportedPackages(context.getBundles());
        List<MissingImport> missing = new ArrayList<>();
        for (BundleRequirement req : revision.getDeclaredRequirements(PackageNamespace.PACKAGE_NAMESPACE)) {
            if (Namespace.RESOLUTION_OPTIONAL.equals(req.getDirectives().get(Namespace.REQUIREMENT_RESOLUTION_DIRECTIVE))
                    || PackageNamespace.RESOLUTION_DYNAMIC.equals(
                            req.getDirectives().get(Namespace.REQUIREMENT_RESOLUTION_DIRECTIVE))) {
                continue;
            }
            String filterText = req.getDirectives().get(Namespace.REQUIREMENT_FILTER_DIRECTIVE);
            String pkg = packageOf(filterText);
            if (pkg == null) {
                continue;
            }
            Filter filter;
            try {
                filter = FrameworkUtil.createFilter(filterText);
            } catch (InvalidSyntaxException e) {
                continue;
            }
            boolean satisfied = false;
            TreeSet<Version> versions = new TreeSet<>();
            for (BundleCapability cap : exports) {
                Map<String, Object> attrs = cap.getAttributes();
                if (!pkg.equals(attrs.get(PackageNamespace.PACKAGE_NAMESPACE))
                        || cap.getRevision().getBundle().getBundleId() == bundle.getBundleId()) {
                    continue;
                }
                if (filter.matches(attrs)) {
                    satisfied = true;
                    break;
                }
                Object v = attrs.get(PackageNamespace.CAPABILITY_VERSION_ATTRIBUTE);
                versions.add(v instanceof Version version ? version : Version.parseVersion(String.valueOf(v)));
            }
            if (!satisfied) {
                missing.add(new MissingImport(pkg, rangeOf(filterText),
                        versions.stream().map(Version::toString).toList()));
            }
        }
        return missing.isEmpty() ? null : message(source(bundle), missing);
    }

    /**
     * The one-line message, e.g. {@code deploy/x.jar (com.acme.plugin 1.0.0) does not resolve: it imports
     * dev.arbor.api.sampling [2.0.0,3.0.0) but this installation exports 1.2.0; rebuild it against the installed
     * API}.
     */
    public static String message(String source, List<MissingImport> missing) {
        StringBuilder out = new StringBuilder(source).append(" does not resolve: it imports ");
        boolean anyExported = false;
        boolean anyAbsent = false;
        for (int i = 0; i < missing.size(); i++) {
            MissingImport m = missing.get(i);
            if (i > 0) {
                out.append("; ");
            }
            out.append(m.packageName()).append(' ').append(m.range());
            if (m.exported().isEmpty()) {
                anyAbsent = true;
                out.append(" which no bundle of this installation exports");
            } else {
                anyExported = true;
                out.append(" but this installation exports ").append(String.join(", ", m.exported()));
            }
        }
        if (anyExported) {
            out.append("; rebuild it against the installed API");
        }
        if (anyAbsent) {
            out.append(anyExported ? ", and deploy" : "; deploy").append(" the bundle that exports what is missing");
        }
        return out.toString();
    }

    /** How a bundle is named to the operator: its file in deploy/ where it came from there, then name and version. */
    static String source(Bundle bundle) {
        String location = bundle.getLocation();
        String where = location.startsWith(DEPLOY_LOCATION_PREFIX)
                ? "deploy/" + location.substring(DEPLOY_LOCATION_PREFIX.length()) : location;
        return where + " (" + bundle.getSymbolicName() + " " + bundle.getVersion() + ")";
    }

    /** The package a requirement filter names. */
    static String packageOf(String filter) {
        if (filter == null) {
            return null;
        }
        Matcher m = Pattern.compile("\\(" + Pattern.quote(PackageNamespace.PACKAGE_NAMESPACE) + "=([^)]+)\\)")
                .matcher(filter);
        return m.find() ? m.group(1) : null;
    }

    /**
     * The version range of a requirement filter in manifest notation, e.g. {@code [2.0.0,3.0.0)}, as bnd and Felix
     * write it: {@code (version>=x)} inclusive and {@code (!(version<=x))} exclusive lower bounds, {@code
     * (!(version>=y))} exclusive and {@code (version<=y)} inclusive upper bounds; "(any version)" when it has none.
     */
    static String rangeOf(String filter) {
        String low = null;
        String high = null;
        boolean lowInclusive = true;
        boolean highInclusive = false;
        Matcher m = BOUND.matcher(filter);
        while (m.find()) {
            boolean not = !m.group(1).isEmpty();
            boolean ge = m.group(2).equals(">=");
            String v = m.group(3).trim();
            if (ge != not) { // version>=v, or not(version<=v): a lower bound
                low = v;
                lowInclusive = !not;
            } else {         // not(version>=v), or version<=v: an upper bound
                high = v;
                highInclusive = !not;
            }
        }
        if (low == null && high == null) {
            return "(any version)";
        }
        if (high == null) {
            return (lowInclusive ? "" : ">") + low;
        }
        return (lowInclusive ? "[" : "(") + (low == null ? "0.0.0" : low) + "," + high + (highInclusive ? "]" : ")");
    }

    /** Package capabilities of every resolved bundle, from the framework's wiring (what can actually be wired). */
    private static List<BundleCapability> exportedPackages(Bundle[] bundles) {
        List<BundleCapability> caps = new ArrayList<>();
        for (Bundle b : bundles) {
            BundleWiring wiring = b.adapt(BundleWiring.class);
            if (wiring != null) {
                caps.addAll(wiring.getCapabilities(PackageNamespace.PACKAGE_NAMESPACE));
            }
        }
        return caps;
    }
}
