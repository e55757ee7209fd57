package dev.arbor.platform.runtime.internal;

import dev.arbor.api.PartProperties;
import java.util.ArrayList;
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
 * Tracks every pipeline part service by kind and {@code arbor.part} name. A lookup takes the highest-ranked
 * service of that name at that moment and holds it (a {@link Lease}) until the request ends, so a request keeps
 * the parts it started with while new requests see replacements as soon as they register.
 */
public final class PartRegistry implements AutoCloseable {
    private final BundleContext context;
    private final Map<PartKind, ServiceTracker<Object, Object>> trackers = new EnumMap<>(PartKind.class);
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();

    public PartRegistry(BundleContext context) {
        this.context = context;
        for (PartKind kind : PartKind.values()) {
            @SuppressWarnings("unchecked")
            Class<Object> type = (Class<Object>) kind.serviceType();
            ServiceTracker<Object, Object> tracker = new ServiceTracker<>(context, type,
                    new ServiceTrackerCustomizer<>() {
                        @Override
                        public Object addingService(ServiceReference<Object> reference) {
                            fire();
                            return reference;
                        }

                        @Override
                        public void modifiedService(ServiceReference<Object> reference, Object service) {
                            fire();
                        }

                        @Override
                        public void removedService(ServiceReference<Object> reference, Object service) {
                            fire();
                        }
                    });
            trackers.put(kind, tracker);
            tracker.open();
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
        ServiceReference<Object> best = null;
        for (ServiceReference<Object> ref : refs) {
            if (name.equals(String.valueOf(ref.getProperty(PartProperties.NAME)))
                    && (best == null || ref.compareTo(best) > 0)) {
                best = ref;
            }
        }
        return Optional.ofNullable(best);
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
            for (ServiceReference<Object> ref : refs) {
                Object ranking = ref.getProperty("service.ranking");
                Bundle b = ref.getBundle();
                out.add(new PartInfo(kind, String.valueOf(ref.getProperty(PartProperties.NAME)),
                        ranking instanceof Integer i ? i : 0,
                        b == null ? "?" : b.getSymbolicName() + " " + b.getVersion(),
                        (Long) ref.getProperty("service.id")));
            }
        }
        out.sort(Comparator.comparing(PartInfo::kind).thenComparing(PartInfo::name)
                .thenComparing(Comparator.comparingInt(PartInfo::ranking).reversed()));
        return out;
    }

    @Override
    public void close() {
        trackers.values().forEach(ServiceTracker::close);
    }

    /** A registered part, for listings. */
    public record PartInfo(PartKind kind, String name, int ranking, String bundle, long serviceId) {
    }
}
