package dev.arbor.launcher;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;

/**
 * What a run keeps of a reused framework storage ({@link StorageSlot}) and what it throws away, so that it starts as
 * a fresh storage would: the installation's bundles stay installed (their unpacked content is the time saved), every
 * other bundle and every bundle's data area go.
 */
final class SlotReuse {
    /** The data file in which Felix SCR keeps its component metadata cache. */
    static final String COMPONENT_METADATA = "componentMetadataStore";

    private SlotReuse() {
    }

    /**
     * Deletes the data area of every bundle in {@code storage} (Config Admin's configurations, the deploy watcher's
     * copies, ...) before the framework starts: each run begins with the configuration its files give, as before.
     */
    static void discardBundleData(Path storage) throws IOException {
        try (Stream<Path> bundles = Files.list(storage)) {
            for (Path bundle : bundles.filter(p -> p.getFileName().toString().startsWith("bundle")).toList()) {
                Path data = bundle.resolve("data");
                if (Files.isDirectory(data)) {
                    try (Stream<Path> walk = Files.walk(data)) {
                        for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                            if (!isComponentMetadata(data, p) && !(p.equals(data) && isComponentMetadataFolder(data))) {
                                Files.delete(p);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * SCR's cache of parsed component descriptions ({@code ds.cache.metadata}): what the installation's bundles
     * declare in OSGI-INF, no configuration and no secret, so it may stay between runs.
     */
    private static boolean isComponentMetadata(Path data, Path p) {
        return p.getParent() != null && p.getParent().equals(data)
                && p.getFileName().toString().equals(COMPONENT_METADATA);
    }

    private static boolean isComponentMetadataFolder(Path data) {
        return Files.isRegularFile(data.resolve(COMPONENT_METADATA));
    }

    /**
     * In a framework initialised (not yet started) on a reused storage: the installation's bundles by location when
     * the storage holds exactly {@code locations}, each running from its own {@code bundles/} jar (then adopted by
     * {@code trust} and marked not to start by themselves: the launcher starts them in its order); every other bundle
     * uninstalled. Null when the storage cannot be used as it is (then nothing was changed).
     */
    static Map<String, Bundle> keepInstallation(BundleContext system, Set<String> locations, BundleTrust trust)
            throws BundleException {
        Map<String, Bundle> kept = new HashMap<>();
        List<Bundle> foreign = new ArrayList<>();
        for (Bundle b : system.getBundles()) {
            if (b.getBundleId() == 0) {
                continue;
            }
            if (locations.contains(b.getLocation())) {
                kept.put(b.getLocation(), b);
            } else if (isFrameworkExtension(b)) {
                return null; // an extension cannot leave a running framework: start from scratch
            } else {
                foreign.add(b);
            }
        }
        if (!kept.keySet().equals(locations)) {
            return null;
        }
        for (Bundle b : kept.values()) {
            if (!trust.adoptFromInstallation(b)) {
                return null; // updated with other bytes while it ran: not the installation's any more
            }
        }
        for (Bundle b : foreign) {
            // installed from deploy/ or at run time: the deploy watcher installs (and checks) what is there now
            b.uninstall();
        }
        for (Bundle b : kept.values()) {
            if (b.getHeaders("").get(Constants.FRAGMENT_HOST) != null) {
                continue; // fragments never start by themselves
            }
            // a started bundle is persistently started: left so, the framework would start it itself, in its own
            // order and before the launcher's checks; stopping an installed bundle only clears that setting
            b.stop();
        }
        return kept;
    }

    private static boolean isFrameworkExtension(Bundle b) {
        String host = b.getHeaders("").get(Constants.FRAGMENT_HOST);
        return host != null && host.contains(Constants.EXTENSION_DIRECTIVE);
    }
}
