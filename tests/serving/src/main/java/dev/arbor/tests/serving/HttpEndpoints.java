package dev.arbor.tests.serving;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URI;
import java.time.Duration;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.Map;
import org.osgi.framework.BundleContext;
import org.osgi.framework.InvalidSyntaxException;
import org.osgi.framework.ServiceReference;

/**
 * Starts and finds Arbor's HTTP server inside a running framework, by its published contract only: Config Admin
 * PID {@code dev.arbor.http} configures it, and once it listens it registers {@code dev.arbor.platform.http.HttpEndpoint}
 * with {@code arbor.http.host} / {@code arbor.http.port}.
 *
 * <p>Config Admin is called reflectively through the interface the Config Admin bundle itself wires to. The
 * alternative, exporting {@code org.osgi.service.cm} from the system bundle so that a class-path copy can be cast
 * to, would rewire Config Admin and every bundle importing it: the tests would then no longer run the runtime's
 * real class space.
 */
public final class HttpEndpoints {
    public static final String PID = "dev.arbor.http";
    public static final String ENDPOINT_SERVICE = "dev.arbor.platform.http.HttpEndpoint";

    private HttpEndpoints() {
    }

    /** Creates or replaces configuration {@value #PID} with {@code properties}. */
    public static void configure(BundleContext context, Map<String, ?> properties) throws Exception {
        ServiceReference<?> ref = await(() -> first(context, "org.osgi.service.cm.ConfigurationAdmin"),
                Duration.ofSeconds(20), "no ConfigurationAdmin service");
        Object admin = context.getService(ref);
        try {
            Class<?> adminType = ref.getBundle().loadClass("org.osgi.service.cm.ConfigurationAdmin");
            Class<?> configurationType = ref.getBundle().loadClass("org.osgi.service.cm.Configuration");
            // location "?": bound to no particular bundle, as the runtime's own pipeline configurations are
            Object configuration = adminType.getMethod("getConfiguration", String.class, String.class)
                    .invoke(admin, PID, "?");
            Dictionary<String, Object> dictionary = new Hashtable<>(properties);
            Method update = configurationType.getMethod("update", Dictionary.class);
            update.invoke(configuration, dictionary);
        } catch (InvocationTargetException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        } finally {
            context.ungetService(ref);
        }
    }

    /** The base URI of the registered endpoint, waiting up to {@code timeout} for it to appear. */
    public static URI await(BundleContext context, Duration timeout) throws InterruptedException {
        ServiceReference<?> ref = await(() -> first(context, ENDPOINT_SERVICE), timeout, "no " + ENDPOINT_SERVICE + " registered; is the HTTP bundle installed and " + PID + " configured?");
        Object host = ref.getProperty("arbor.http.host");
        Object port = ref.getProperty("arbor.http.port");
        if (host == null || port == null) {
            throw new IllegalStateException(ENDPOINT_SERVICE + " lacks arbor.http.host/arbor.http.port: host=" + host
                    + " port=" + port);
        }
        String h = host.toString();
        if (h.equals("0.0.0.0") || h.equals("::") || h.equals("[::]")) {
            h = "127.0.0.1";   // a wildcard bind is reachable on loopback, where the load generator runs
        }
        if (h.contains(":") && !h.startsWith("[")) {
            h = "[" + h + "]";   // IPv6 literal
        }
        return URI.create("http://" + h + ":" + Integer.parseInt(port.toString().trim()));
    }

    /**
     * The best-ranked service registered under {@code type}, whatever class space it lives in. Not
     * {@code getServiceReference(String)}: that one hides services whose package the asking bundle wires differently,
     * and the system bundle (whose context tests use) gains wires of its own once framework extensions attach
     * (SPI Fly), which hid Config Admin. The services are only used reflectively here, so any class space will do.
     */
    private static ServiceReference<?> first(BundleContext context, String type) {
        try {
            ServiceReference<?>[] refs = context.getAllServiceReferences(type, null);
            if (refs == null || refs.length == 0) {
                return null;
            }
            java.util.Arrays.sort(refs, java.util.Collections.reverseOrder());   // ranking, then age
            return refs[0];
        } catch (InvalidSyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private interface Lookup {
        ServiceReference<?> get();
    }

    private static ServiceReference<?> await(Lookup lookup, Duration timeout, String what) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            ServiceReference<?> ref = lookup.get();
            if (ref != null) {
                return ref;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(what + " within " + timeout.toMillis() + " ms");
            }
            Thread.sleep(20);
        }
    }
}
