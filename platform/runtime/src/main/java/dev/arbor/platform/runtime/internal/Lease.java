package dev.arbor.platform.runtime.internal;

import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;

/** A part service held for the duration of one request; closing it releases the service. */
public final class Lease<T> implements AutoCloseable {
    private final BundleContext context;
    private final ServiceReference<?> reference;
    private final T service;
    private final String name;
    private boolean closed;

    private final org.osgi.framework.wiring.BundleRevision revision;

    Lease(BundleContext context, ServiceReference<?> reference, T service, String name) {
        this.context = context;
        this.reference = reference;
        this.service = service;
        this.name = name;
        var bundle = reference.getBundle();
        this.revision = bundle == null ? null : bundle.adapt(org.osgi.framework.wiring.BundleRevision.class);
    }

    /** True once the providing bundle was updated, refreshed or uninstalled: its classes may no longer load. */
    public boolean departed() {
        var bundle = reference.getBundle();
        return bundle == null || bundle.getState() == org.osgi.framework.Bundle.UNINSTALLED
                || bundle.adapt(org.osgi.framework.wiring.BundleRevision.class) != revision
                || revision == null || revision.getWiring() == null;
    }

    public T get() {
        return service;
    }

    public String name() {
        return name;
    }

    public long serviceId() {
        return (Long) reference.getProperty("service.id");
    }

    /** "dev.arbor.sampling 0.1.0" — which bundle provides the part, for error messages. */
    public String bundle() {
        var b = reference.getBundle();
        return b == null ? "(uninstalled bundle)" : b.getSymbolicName() + " " + b.getVersion();
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            try {
                context.ungetService(reference);
            } catch (IllegalStateException alreadyStopped) {
                // the framework or our bundle is stopping: nothing left to release
            }
        }
    }
}
