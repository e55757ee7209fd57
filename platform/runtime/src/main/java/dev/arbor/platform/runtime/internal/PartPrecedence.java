package dev.arbor.platform.runtime.internal;

import dev.arbor.api.PartProperties;
import java.util.Collection;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.osgi.framework.Bundle;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.Version;

/**
 * Which of several services offering the same {@code arbor.part} name (same kind) serves requests: the one from
 * the highest bundle version, then the highest {@code service.ranking}, then the oldest service (lowest
 * {@code service.id}). Version first so that installing a newer build of a plugin next to an older one takes
 * over even if the files were not replaced; ranking still orders services within one bundle version, or two
 * bundles that provide the same name at the same version. Remembers each name's winner to report changes.
 */
final class PartPrecedence {
    /** Greater = preferred. */
    static final Comparator<ServiceReference<?>> ORDER = Comparator
            .comparing(PartPrecedence::bundleVersion)
            .thenComparingInt(PartPrecedence::ranking)
            .thenComparing(PartPrecedence::serviceId, Comparator.reverseOrder());

    private final Map<String, ServiceReference<?>> winners = new ConcurrentHashMap<>();

    /** The preferred reference among {@code refs} offering {@code name}, if any. */
    static <S> Optional<ServiceReference<S>> best(Collection<ServiceReference<S>> refs, String name) {
        ServiceReference<S> best = null;
        for (ServiceReference<S> ref : refs) {
            if (name.equals(String.valueOf(ref.getProperty(PartProperties.NAME)))
                    && (best == null || ORDER.compare(ref, best) > 0)) {
                best = ref;
            }
        }
        return Optional.ofNullable(best);
    }

    /**
     * Records the winner for {@code name} among {@code refs} (the services of one kind now registered); returns a
     * log line when a different service than the last recorded one now wins while the last one is still among
     * {@code refs} or was replaced (both bundles and versions named), empty otherwise.
     */
    <S> Optional<String> observe(PartKind kind, String name, Collection<ServiceReference<S>> refs) {
        String key = kind + "/" + name;
        Optional<ServiceReference<S>> now = best(refs, name);
        ServiceReference<?> before = now.isPresent() ? winners.put(key, now.get()) : winners.remove(key);
        if (now.isEmpty() || before == null || before.equals(now.get())) {
            return Optional.empty();
        }
        return Optional.of(kind.label() + " '" + name + "' is now served by " + describe(now.get()) + " instead of "
                + describe(before) + " (highest bundle version wins, then service.ranking, then the oldest"
                + " service)");
    }

    static String describe(ServiceReference<?> ref) {
        Bundle b = ref.getBundle();
        String bundle = b == null ? "an unregistered service" : b.getSymbolicName() + " " + b.getVersion();
        int ranking = ranking(ref);
        return bundle + (ranking != 0 ? " (ranking " + ranking + ")" : "");
    }

    private static Version bundleVersion(ServiceReference<?> ref) {
        Bundle b = ref.getBundle();
        return b == null ? Version.emptyVersion : b.getVersion();
    }

    private static int ranking(ServiceReference<?> ref) {
        return ref.getProperty(Constants.SERVICE_RANKING) instanceof Integer i ? i : 0;
    }

    private static long serviceId(ServiceReference<?> ref) {
        return ref.getProperty(Constants.SERVICE_ID) instanceof Long l ? l : Long.MAX_VALUE;
    }
}
