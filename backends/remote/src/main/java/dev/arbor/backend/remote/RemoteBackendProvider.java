package dev.arbor.backend.remote;

import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.model.ModelSpec;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.nio.NioIoHandler;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;

/**
 * The {@code remote} backend part: a model served by another process over the Open Inference Protocol (an Arbor
 * {@code serve --expose-models}, or any server of platform {@value ForwardProtocol#PLATFORM}). Format {@code oip};
 * options: {@code url} ({@code grpc://HOST:PORT/MODEL}, which a model file gives as its {@code "url"}),
 * {@code forward_timeout_ms} (deadline of one forward, default 30000), {@code api_key_env} (the environment variable
 * holding the server's API key, sent as {@code authorization: Bearer}) and {@code connect_timeout_ms} (of the first
 * call, which reads the model's card; default 10000). Opening asks the server for the card, so a server that is
 * down makes the pipeline unavailable naming the URL, and a later request tries again.
 */
@Component(immediate = true, service = ModelBackendProvider.class, property = {
        PartProperties.NAME + "=remote",
        PartProperties.DESCRIPTION + "=A model served by another process over the Open Inference Protocol"
                + " (gRPC), driven forward by forward"})
public final class RemoteBackendProvider implements ModelBackendProvider {
    /** Formats {@link #open} accepts. */
    public static final List<String> FORMATS = List.of("oip");

    /** Opens a channel to a served model, sending {@code apiKey} (null: none) with every call. */
    interface ChannelFactory {
        OipChannel open(RemoteUrl url, String apiKey);
    }

    private final ChannelFactory channels;
    private final Set<RemoteModelBackend> open = ConcurrentHashMap.newKeySet();

    /**
     * The event loops of this provider's gRPC channels, its own rather than grpc-java's process-wide ones, so that
     * no thread outlives the bundle (created on first use, shut down when the component deactivates).
     */
    private EventLoopGroup eventLoops;

    /** The provider DS creates: gRPC channels. */
    public RemoteBackendProvider() {
        this.channels = (url, key) -> new GrpcChannel(url, key, eventLoops());
    }

    RemoteBackendProvider(ChannelFactory channels) {
        this.channels = channels;
    }

    private synchronized EventLoopGroup eventLoops() {
        if (eventLoops == null) {
            ThreadFactory threads = r -> {
                Thread t = new Thread(r, "arbor-remote-grpc");
                t.setDaemon(true);
                return t;
            };
            eventLoops = new MultiThreadIoEventLoopGroup(2, threads, NioIoHandler.newFactory());
        }
        return eventLoops;
    }

    @Override
    public ModelBackend open(ModelSpec spec) {
        String format = spec.format().trim().toLowerCase(Locale.ROOT);
        if (!FORMATS.contains(format)) {
            throw ArborException.invalid("model format '" + spec.format() + "' is not supported by the remote"
                    + " backend; supported formats: " + FORMATS);
        }
        Object url = spec.options().asMap().get("url");
        RemoteUrl remote = RemoteUrl.parse(url == null ? null : url.toString());
        long forwardTimeout = spec.options().longValue("forward_timeout_ms").orElse(30_000L);
        long connectTimeout = spec.options().longValue("connect_timeout_ms").orElse(10_000L);
        for (long t : new long[] {forwardTimeout, connectTimeout}) {
            if (t < 1 || t > 600_000) {
                throw ArborException.invalid("the remote model " + remote + ": forward_timeout_ms and"
                        + " connect_timeout_ms must lie in [1, 600000], got " + t);
            }
        }
        OipChannel channel = channels.open(remote, apiKey(spec, remote));
        try {
            RemoteModelBackend backend = RemoteModelBackend.open(channel, remote.toString(), connectTimeout,
                    forwardTimeout);
            open.add(backend);
            backend.onClose(() -> open.remove(backend));
            return backend;
        } catch (RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /**
     * The API key of a server that wants one (its {@code ARBOR_API_KEY}): read from the environment variable that
     * option {@code api_key_env} names, so that no model file holds the secret; null without the option.
     */
    private static String apiKey(ModelSpec spec, RemoteUrl remote) {
        Object name = spec.options().asMap().get("api_key_env");
        if (name == null) {
            return null;
        }
        if (!(name instanceof String variable) || !variable.matches("[A-Za-z_][A-Za-z0-9_]{0,127}")) {
            throw ArborException.invalid("the remote model " + remote + ": api_key_env must name an environment"
                    + " variable (letters, digits, '_'), got " + name);
        }
        String key = System.getenv(variable);
        if (key == null || key.isBlank()) {
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "the remote model " + remote + " takes its"
                    + " API key from environment variable " + variable + ", which is not set");
        }
        return key.trim();
    }

    /** Closes the channels of the models still open. */
    @Deactivate
    void deactivate() {
        for (RemoteModelBackend b : List.copyOf(open)) {
            b.close();
        }
        open.clear();
        EventLoopGroup loops;
        synchronized (this) {
            loops = eventLoops;
            eventLoops = null;
        }
        if (loops != null) {
            loops.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(10, TimeUnit.SECONDS);
        }
    }
}
