package dev.arbor.platform.runtime.internal;

import dev.arbor.api.PartProperties;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.osgi.framework.Bundle;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.Version;

/**
 * Which of several services offering the same {@code arbor.part} name (same kind) serves requests. First, of the
 * services a bundle provides under that name only those of the bundle's highest installed version count (two
 * versions of one plugin installed side by side: the newer wins whatever the install order or the file names);
 * then, as everywhere in OSGi, the highest {@code service.ranking}, then the oldest service (lowest
 * {@code service.id}). Versions of different bundles are not compared: how one plugin overrides another's part
 * stays {@code service.ranking}. Remembers each name's winner to report changes.
 */
final class PartPrecedence {
    /** Among services of equal standing: greater = preferred (highest ranking, then the oldest service). */
    static final Comparator<ServiceReference<?>> RANKING = Comparator
            .comparingInt(PartPrecedence::ranking)
            .thenComparing(PartPrecedence::serviceId, Comparator.reverseOrder());

    private final Map<String, ServiceReference<?>> winners = new ConcurrentHashMap<>();

    /** The preferred reference among {@code refs} offering {@code name}, if any. */
    static <S> Optional<ServiceReference<S>> best(Collection<ServiceReference<S>> refs, String name) {
        Map<String, Version> newest = new HashMap<>();
        List<ServiceReference<S>> named = new ArrayList<>();
        for (ServiceReference<S> ref : refs) {
            if (name.equals(String.valueOf(ref.getProperty(PartProperties.NAME)))) {
                named.add(ref);
                Bundle b = ref.getBundle();
                if (b != null) {
                    newest.merge(b.getSymbolicName(), b.getVersion(), (x, y) -> x.compareTo(y) >= 0 ? x : y);
                }
            }
        }
        ServiceReference<S> best = null;
        for (ServiceReference<S> ref : named) {
            Bundle b = ref.getBundle();
            boolean shadowed = b != null && b.getVersion().compareTo(newest.get(b.getSymbolicName())) < 0;
            if (!shadowed && (best == null || RANKING.compare(ref, best) > 0)) {
                best = ref;
            }
        }
        return Optional.ofNullable(best);
    }

    /**
     * Records the winner for {@code name} among {@code refs} (the services of one kind now registered); returns a
     * log line naming both bundles and versions when a different service than the last recorded one now wins,
     * empty otherwise (also for the first service of a name, or when the last one leaves with no successor).
     */
    <S> Optional<String> observe(PartKind kind, String name, Collection<ServiceReference<S>> refs) {
        String key = kind + "/" + name;
        Optional<ServiceReference<S>> now = best(refs, name);
        ServiceReference<?> before = now.isPresent() ? winners.put(key, now.get()) : winners.remove(key);
        if (now.isEmpty() || before == null || before.equals(now.get())) {
            return Optional.empty();
        }
        return Optional.of(kind.label() + " '" + name + "' is now served by " + describe(now.get()) + " instead of "
                + describe(before) + " (a bundle's highest installed version wins, then service.ranking, then the"
                + " oldest service)");
    }

    static String describe(ServiceReference<?> ref) {
        Bundle b = ref.getBundle();
        String bundle = b == null ? "an unregistered service" : b.getSymbolicName() + " " + b.getVersion();
        int ranking = ranking(ref);
        return bundle + (ranking != 0 ? " (ranking " + ranking + ")" : "");
    }

    private static int ranking(ServiceReference<?> ref) {
        return ref.getProperty(Constants.SERVICE_RANKING) instanceof Integer i ? i : 0;
    }

    private static long serviceId(ServiceReference<?> ref) {
        return ref.getProperty(Constants.SERVICE_ID) instanceof Long l ? l : Long.MAX_VALUE;
    }
}
