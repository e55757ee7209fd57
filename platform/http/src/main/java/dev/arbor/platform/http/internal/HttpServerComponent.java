package dev.arbor.platform.http.internal;

import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.backend.support.StepCoalescer;
import dev.arbor.platform.http.HttpEndpoint;
import java.net.URI;
import java.util.Hashtable;
import java.util.Map;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleEvent;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceRegistration;
import org.osgi.framework.SynchronousBundleListener;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;

/**
 * The HTTP server: runs only while configuration {@value HttpEndpoint#PID} exists (REQUIRE), listens, then
 * registers {@link HttpEndpoint} with the bound host and port. A configuration change restarts it.
 *
 * <p>It stops gracefully, and first: when the framework begins to stop (SIGTERM), before any bundle stops and any
 * pipeline goes away, it refuses new and queued requests with 503 and {@code Retry-After} and gives running ones
 * {@code shutdown_grace_ms} to finish; only then does the framework take the rest down.
 */
@Component(configurationPid = HttpEndpoint.PID, configurationPolicy = ConfigurationPolicy.REQUIRE,
        immediate = true, service = {})
public class HttpServerComponent implements HttpEndpoint {
    private static final System.Logger LOG = System.getLogger("dev.arbor.http");

    @Reference
    private PipelineService pipelines;

    /** Serves POST /v1/prognostics/assess when a prognostics bundle runs; comes and goes with it. */
    @Reference(cardinality = org.osgi.service.component.annotations.ReferenceCardinality.OPTIONAL,
            policy = org.osgi.service.component.annotations.ReferencePolicy.DYNAMIC)
    private volatile dev.arbor.api.prognostics.Prognostics prognostics;

    /** Readiness through a drain, shared with the gRPC server (bundle dev.arbor.platform.oip). */
    @Reference
    private dev.arbor.platform.oip.server.ServingState servingState;

    private dev.arbor.platform.oip.server.ServedModels served;
    private Server server;
    private OpenAiHandler handler;
    private long shutdownGraceMillis;
    private BundleContext context;
    private SynchronousBundleListener frameworkStopping;
    private final java.util.concurrent.atomic.AtomicBoolean drained = new java.util.concurrent.atomic.AtomicBoolean();
    private Workers workers;
    private ServerMetrics metrics;
    private SwapCounter swaps;
    private ServiceRegistration<HttpEndpoint> registration;
    private ServiceRegistration<StepCoalescer.Observer> batchObserver;
    private URI uri;

    @Activate
    void activate(BundleContext context, Map<String, Object> config) throws Exception {
        ServerSettings settings = ServerSettings.from(config);
        if (config.get(ServerSettings.API_KEY) != null) {
            LOG.log(System.Logger.Level.WARNING, "configuration " + PID + " holds '" + ServerSettings.API_KEY + "' in"
                    + " clear, which Config Admin stores and the Web Console shows; configure '"
                    + ServerSettings.API_KEY_HASH + "' instead ('arbor serve' does)");
        }
        ClassLoader own = getClass().getClassLoader();
        Thread current = Thread.currentThread();
        ClassLoader previous = current.getContextClassLoader();
        // Jetty and SLF4J look up their services through the context class loader; inside OSGi that must be this
        // bundle's loader, which sees the embedded jars. Jetty's threads inherit it from the thread creating them.
        current.setContextClassLoader(own);
        try {
            metrics = new ServerMetrics(new ConfiguredNames(pipelines, context));
            swaps = new SwapCounter(context, metrics);
            // backends that batch forward steps report each batch to every observer service
            batchObserver = context.registerService(StepCoalescer.Observer.class, metrics.batchObserver(), null);
            workers = new Workers(settings.workers(), own, metrics::abandoned);
            metrics.trackWorkers(workers::running);
            QueuedThreadPool threads = new QueuedThreadPool(Math.max(64, settings.workers() * 4 + 16), 4);
            threads.setName("arbor-http");
            server = new Server(threads);
            ServerConnector connector = connector(server, settings);
            server.addConnector(connector);
            handler = new OpenAiHandler(pipelines, settings, metrics, workers);
            handler.prognostics(() -> prognostics);
            served = dev.arbor.platform.oip.server.ServedModels.tracking(context, pipelines,
                    dev.arbor.platform.oip.server.PipelineModel.Limits.of(settings.maxTokens(),
                            settings.maxPromptTokens(), settings.maxPromptBytes()));
            handler.oip(new OipRoutes(served, servingState, context.getBundle().getVersion().toString()),
                    servingState::refusing);
            server.setHandler(handler);
            shutdownGraceMillis = settings.shutdownGraceMillis();
            server.setStopTimeout(5_000);
            try {
                server.start();
            } catch (Exception e) {
                throw new IllegalStateException("the HTTP server cannot listen on " + settings.host() + ":"
                        + settings.port() + " (" + e.getMessage() + "); is the port in use? Choose another with"
                        + " 'arbor serve --port'", e);
            }
            int port = connector.getLocalPort();
            uri = URI.create("http://" + hostForUri(settings.host()) + ":" + port + "/");
            Hashtable<String, Object> props = new Hashtable<>();
            props.put(HOST_PROPERTY, settings.host());
            props.put(PORT_PROPERTY, port);
            registration = context.registerService(HttpEndpoint.class, this, props);
            this.context = context;
            // the system bundle announces STOPPING synchronously, before the framework stops any bundle
            frameworkStopping = event -> {
                if (event.getType() == BundleEvent.STOPPING
                        && event.getBundle().getBundleId() == Constants.SYSTEM_BUNDLE_ID) {
                    drain("the framework is stopping", true);
                }
            };
            context.addBundleListener(frameworkStopping);
            LOG.log(System.Logger.Level.INFO, "serving the OpenAI API at " + uri + "v1 (API key "
                    + (settings.authenticates() ? "required" : "not required") + ", " + settings.workers()
                    + " workers, deadline " + settings.requestTimeoutMillis() + " ms)");
        } catch (Exception | LinkageError e) {
            LOG.log(System.Logger.Level.ERROR, "the HTTP server did not start: " + e.getMessage(), e);
            deactivate();
            throw e;
        } finally {
            current.setContextClassLoader(previous);
        }
    }

    /** The HTTP/1.1 connector as the server needs it: no version banner, header values matched exactly. */
    static ServerConnector connector(Server server, ServerSettings settings) {
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        // Jetty caches header fields repeated on a connection and by default matches them ignoring case: a client
        // could then pass 'Bearer KEY' with the key's case changed. Header values must match exactly.
        http.setHeaderCacheCaseSensitive(true);
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(settings.host());
        connector.setPort(settings.port());
        return connector;
    }

    private static String hostForUri(String host) {
        return host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host;
    }

    /**
     * Refuses new and queued requests from now on and waits for the running ones (at most the grace period). When the
     * framework stops ({@code notReadyFirst}), readiness turns false first and requests are still served for the
     * drain delay ({@code drain_delay_ms}), so that balancers stop sending before anyone is refused.
     */
    private void drain(String why, boolean notReadyFirst) {
        OpenAiHandler draining = handler;
        if (draining == null || !drained.compareAndSet(false, true)) {
            return;
        }
        try {
            if (notReadyFirst) {
                servingState.drain(why);
            }
            long start = System.nanoTime();
            boolean done = draining.drain(shutdownGraceMillis);
            LOG.log(done ? System.Logger.Level.INFO : System.Logger.Level.WARNING, "the HTTP server stopped taking"
                    + " requests (" + why + ") and " + (done ? "its running requests finished in "
                    + (System.nanoTime() - start) / 1_000_000 + " ms" : "stops requests still running after the"
                    + " grace of " + shutdownGraceMillis + " ms (shutdown_grace_ms)"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Deactivate
    void deactivate() {
        if (frameworkStopping != null) {
            try {
                context.removeBundleListener(frameworkStopping);
            } catch (IllegalStateException e) {
                // the bundle is stopping: its listeners go with it
            }
            frameworkStopping = null;
        }
        drain("the HTTP component is deactivated", false);
        handler = null;
        if (served != null) {
            served.close();
            served = null;
        }
        if (batchObserver != null) {
            batchObserver.unregister();
            batchObserver = null;
        }
        if (registration != null) {
            registration.unregister();
            registration = null;
        }
        if (server != null) {
            try {
                server.stop();
            } catch (Exception e) {
                LOG.log(System.Logger.Level.WARNING, "stopping the HTTP server failed: " + e);
            }
            server = null;
        }
        if (workers != null) {
            workers.close();
        }
        if (swaps != null) {
            swaps.close();
        }
        if (metrics != null) {
            metrics.close();
        }
    }

    @Override
    public URI uri() {
        return uri;
    }
}
