package dev.arbor.platform.oip.internal;

import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.platform.oip.server.GrpcEndpoint;
import dev.arbor.platform.oip.server.PipelineModel;
import dev.arbor.platform.oip.server.ServedModels;
import dev.arbor.platform.oip.server.ServingState;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.nio.NioIoHandler;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import java.net.InetSocketAddress;
import java.util.Hashtable;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
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
 * The gRPC server of the Open Inference Protocol ({@code inference.GRPCInferenceService}): runs while configuration
 * {@code dev.arbor.http} exists and sets {@code grpc_port} ({@code arbor serve --grpc-port}), on {@code grpc_host}
 * (default: the HTTP server's host, loopback unless the operator says otherwise), serving every registered
 * {@link dev.arbor.platform.oip.InferenceModel} and every pipeline. It shares the HTTP server's API key, limits,
 * deadline and worker count, and its {@link ServingState}: when the framework begins to stop, ServerReady turns false,
 * then after the drain delay new calls get UNAVAILABLE (with a {@code retry-after} trailer) while running ones get
 * {@code shutdown_grace_ms} to finish.
 */
@Component(configurationPid = "dev.arbor.http", configurationPolicy = ConfigurationPolicy.REQUIRE, immediate = true,
        service = {})
public class GrpcServerComponent implements GrpcEndpoint {
    private static final System.Logger LOG = System.getLogger("dev.arbor.oip");

    @Reference
    private PipelineService pipelines;

    @Reference
    private ServingState state;

    private Settings settings;
    private ServedModels models;
    private InferenceGrpcService service;
    private Server server;
    private ScheduledExecutorService timer;
    /**
     * The server's own threads (Netty's event loops, the call executor), ended before the bundle stops: grpc-java's
     * shared defaults are released a second after the server, when this bundle's class loader may be gone.
     */
    private EventLoopGroup boss;
    private EventLoopGroup eventLoops;
    private ExecutorService calls;
    private BundleContext context;
    private SynchronousBundleListener frameworkStopping;
    private ServiceRegistration<GrpcEndpoint> registration;

    @Activate
    void activate(BundleContext context, Map<String, Object> config) throws Exception {
        settings = Settings.from(config);
        if (!settings.enabled()) {
            return; // no grpc_port: the operator did not ask for a gRPC server
        }
        this.context = context;
        Thread current = Thread.currentThread();
        ClassLoader previous = current.getContextClassLoader();
        // grpc-java and Netty look up their providers through the context class loader: inside OSGi that must be
        // this bundle's loader, which sees the embedded jars
        current.setContextClassLoader(getClass().getClassLoader());
        try {
            models = ServedModels.tracking(context, pipelines, PipelineModel.Limits.of(settings.maxTokens(),
                    settings.maxPromptTokens(), settings.maxPromptBytes()));
            timer = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "arbor-grpc-deadlines");
                t.setDaemon(true);
                return t;
            });
            service = new InferenceGrpcService(models, state, settings, context.getBundle().getVersion().toString(),
                    timer);
            var bound = ServerInterceptors.intercept(service, new ApiKeyInterceptor(settings.apiKey()));
            boss = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
            eventLoops = new MultiThreadIoEventLoopGroup(0, NioIoHandler.newFactory());
            java.util.concurrent.atomic.AtomicInteger count = new java.util.concurrent.atomic.AtomicInteger();
            ClassLoader own = getClass().getClassLoader();
            calls = Executors.newCachedThreadPool(r -> {
                Thread t = new Thread(r, "arbor-grpc-" + count.incrementAndGet());
                t.setDaemon(true);
                t.setContextClassLoader(own);
                return t;
            });
            // plain NIO: no native transport to load inside the framework
            NettyServerBuilder builder = NettyServerBuilder.forAddress(new InetSocketAddress(settings.host(),
                    settings.port())).bossEventLoopGroup(boss).workerEventLoopGroup(eventLoops)
                    .channelType(NioServerSocketChannel.class).executor(calls)
                    .maxInboundMessageSize(settings.maxMessageBytes());
            server = (settings.apiKey() == null ? builder.addService(service) : builder.addService(bound)).build();
            try {
                server.start();
            } catch (java.io.IOException e) {
                throw new IllegalStateException("the gRPC server cannot listen on " + settings.host() + ":"
                        + settings.port() + " (" + e.getMessage() + "); is the port in use? Choose another with"
                        + " 'arbor serve --grpc-port'", e);
            }
            Hashtable<String, Object> props = new Hashtable<>();
            props.put(HOST_PROPERTY, settings.host());
            props.put(PORT_PROPERTY, server.getPort());
            registration = context.registerService(GrpcEndpoint.class, this, props);
            frameworkStopping = event -> {
                if (event.getType() == BundleEvent.STOPPING
                        && event.getBundle().getBundleId() == Constants.SYSTEM_BUNDLE_ID) {
                    drain("the framework is stopping");
                }
            };
            context.addBundleListener(frameworkStopping);
            LOG.log(System.Logger.Level.INFO, "serving the Open Inference Protocol over gRPC at " + settings.host()
                    + ":" + server.getPort() + " (API key " + (settings.apiKey() == null ? "not required" : "required")
                    + ", " + settings.workers() + " workers, deadline " + settings.requestTimeoutMillis() + " ms)");
        } catch (Exception | LinkageError e) {
            LOG.log(System.Logger.Level.ERROR, "the gRPC server did not start: " + e.getMessage(), e);
            deactivate();
            throw e;
        } finally {
            current.setContextClassLoader(previous);
        }
    }

    /** Not ready, then (after the drain delay) refusing, then waits for running calls up to the grace period. */
    private void drain(String why) {
        InferenceGrpcService draining = service;
        if (draining == null || draining.gate().closed()) {
            return;
        }
        try {
            state.drain(why);
            draining.gate().close();
            boolean done = draining.gate().awaitEmpty(settings.shutdownGraceMillis());
            LOG.log(done ? System.Logger.Level.INFO : System.Logger.Level.WARNING, "the gRPC server stopped taking"
                    + " calls (" + why + ")" + (done ? "" : " and stops calls still running after the grace of "
                    + settings.shutdownGraceMillis() + " ms (shutdown_grace_ms)"));
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
        if (service != null) {
            service.gate().close();
        }
        if (registration != null) {
            registration.unregister();
            registration = null;
        }
        if (server != null) {
            server.shutdown();
            try {
                if (!server.awaitTermination(2, TimeUnit.SECONDS)) {
                    server.shutdownNow();
                }
            } catch (InterruptedException e) {
                server.shutdownNow();
                Thread.currentThread().interrupt();
            }
            server = null;
        }
        for (EventLoopGroup group : new EventLoopGroup[] {boss, eventLoops}) {
            if (group != null) {
                group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
            }
        }
        boss = null;
        eventLoops = null;
        if (calls != null) {
            calls.shutdownNow();
            calls = null;
        }
        if (timer != null) {
            timer.shutdownNow();
            timer = null;
        }
        if (models != null) {
            models.close();
            models = null;
        }
        service = null;
    }

    @Override
    public String host() {
        return settings.host();
    }

    @Override
    public int port() {
        Server s = server;
        return s == null ? -1 : s.getPort();
    }
}
