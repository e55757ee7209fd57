package dev.arbor.platform.runtime.internal;

import dev.arbor.api.PartProperties;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.util.tracker.ServiceTracker;
import org.osgi.util.tracker.ServiceTrackerCustomizer;

/**
 * Tracks every pipeline part service by kind and {@code arbor.part} name. A lookup takes the preferred service
 * of that name at that moment (a bundle's highest installed version shadows its older ones, then the highest
 * {@code service.ranking}, then the oldest service: see {@link PartPrecedence}; a change of winner is logged) and holds it (a {@link Lease}) until the request ends, so a request keeps
 * the parts it started with while new requests see replacements as soon as they register.
 */
public final class PartRegistry implements AutoCloseable {
    private final BundleContext context;
    private final Map<PartKind, ServiceTracker<Object, Object>> trackers = new EnumMap<>(PartKind.class);
    private static final System.Logger LOG = System.getLogger("dev.arbor.runtime");

    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private final PartPrecedence precedence = new PartPrecedence();

    public PartRegistry(BundleContext context) {
        this.context = context;
        for (PartKind kind : PartKind.values()) {
            @SuppressWarnings("unchecked")
            Class<Object> type = (Class<Object>) kind.serviceType();
            ServiceTracker<Object, Object> tracker = new ServiceTracker<>(context, type,
                    new ServiceTrackerCustomizer<>() {
                        @Override
                        public Object addingService(ServiceReference<Object> reference) {
                            // not yet among the tracker's references while this runs
                            List<ServiceReference<Object>> refs = tracked(kind);
                            refs.add(reference);
                            observe(kind, reference, refs);
                            fire();
                            return reference;
                        }

                        @Override
                        public void modifiedService(ServiceReference<Object> reference, Object service) {
                            observe(kind, reference, tracked(kind));
                            fire();
                        }

                        @Override
                        public void removedService(ServiceReference<Object> reference, Object service) {
                            List<ServiceReference<Object>> refs = tracked(kind);
                            refs.remove(reference);
                            observe(kind, reference, refs);
                            fire();
                        }
                    });
            trackers.put(kind, tracker);
            tracker.open();
        }
    }

    private List<ServiceReference<Object>> tracked(PartKind kind) {
        ServiceTracker<Object, Object> tracker = trackers.get(kind);
        ServiceReference<Object>[] refs = tracker == null ? null : tracker.getServiceReferences();
        return refs == null ? new ArrayList<>() : new ArrayList<>(Arrays.asList(refs));
    }

    private void observe(PartKind kind, ServiceReference<Object> changed, List<ServiceReference<Object>> refs) {
        Object name = changed.getProperty(PartProperties.NAME);
        if (name != null) {
            precedence.observe(kind, String.valueOf(name), refs)
                    .ifPresent(line -> LOG.log(System.Logger.Level.INFO, line));
        }
    }

    /** Runs {@code listener} whenever a part service comes, goes or changes. */
    public void onChange(Runnable listener) {
        listeners.add(listener);
    }

    private void fire() {
        for (Runnable r : listeners) {
            r.run();
        }
    }

    /** The best service reference for {@code name} right now, if any. */
    public Optional<ServiceReference<Object>> best(PartKind kind, String name) {
        ServiceReference<Object>[] refs = trackers.get(kind).getServiceReferences();
        if (refs == null) {
            return Optional.empty();
        }
        return PartPrecedence.best(Arrays.asList(refs), name);
    }

    public boolean isPresent(PartKind kind, String name) {
        return best(kind, name).isPresent();
    }

    /**
     * Gets the best service for {@code name}, waiting up to {@code graceMillis} for one to appear (covers the
     * moment between a bundle's stop and its restart during an update). Empty if none came.
     */
    public <T> Optional<Lease<T>> acquire(PartKind kind, String name, Class<T> type, long graceMillis) {
        long deadline = System.nanoTime() + graceMillis * 1_000_000L;
        while (true) {
            Optional<ServiceReference<Object>> ref = best(kind, name);
            if (ref.isPresent()) {
                Object service = context.getService(ref.get());
                if (service != null) {
                    return Optional.of(new Lease<>(context, ref.get(), type.cast(service), name));
                }
            }
            if (System.nanoTime() - deadline > 0) {
                return Optional.empty();
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return Optional.empty();
            }
        }
    }

    /** The distinct names of the parts of {@code kind} registered now (for "no such part" messages). */
    public java.util.Set<String> names(PartKind kind) {
        java.util.Set<String> out = new java.util.TreeSet<>();
        ServiceReference<Object>[] refs = trackers.get(kind).getServiceReferences();
        if (refs != null) {
            for (ServiceReference<Object> ref : refs) {
                out.add(String.valueOf(ref.getProperty(PartProperties.NAME)));
            }
        }
        return out;
    }

    /** One row per registered part, for listings. */
    public List<PartInfo> list() {
        List<PartInfo> out = new ArrayList<>();
        for (PartKind kind : PartKind.values()) {
            ServiceReference<Object>[] refs = trackers.get(kind).getServiceReferences();
            if (refs == null) {
                continue;
            }
            ServiceReference<Object>[] sorted = refs.clone();
            // highest ranking first within each name (the sort below is stable)
            Arrays.sort(sorted, PartPrecedence.RANKING.reversed());
            for (ServiceReference<Object> ref : sorted) {
                Object ranking = ref.getProperty("service.ranking");
                Bundle b = ref.getBundle();
                out.add(new PartInfo(kind, String.valueOf(ref.getProperty(PartProperties.NAME)),
                        ranking instanceof Integer i ? i : 0,
                        b == null ? "?" : b.getSymbolicName() + " " + b.getVersion(),
                        (Long) ref.getProperty("service.id"), description(ref)));
            }
        }
        out.sort(Comparator.comparing(PartInfo::kind).thenComparing(PartInfo::name));
        return out;
    }

    @Override
    public void close() {
        trackers.values().forEach(ServiceTracker::close);
    }

    private static String description(ServiceReference<Object> ref) {
        Object d = ref.getProperty(PartProperties.DESCRIPTION);
        return d == null || String.valueOf(d).isBlank() ? null : String.valueOf(d).strip();
    }

    /** A registered part, for listings; {@code description} is {@code arbor.part.description} or null. */
    public record PartInfo(PartKind kind, String name, int ranking, String bundle, long serviceId,
            String description) {
    }
}
