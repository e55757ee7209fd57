package dev.arbor.backend.remote;

import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.model.ModelSpec;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;

/**
 * The {@code remote} backend part: a model served by another process over the Open Inference Protocol (an Arbor
 * {@code serve --expose-models}, or any server of platform {@value ForwardProtocol#PLATFORM}). Format {@code oip};
 * options: {@code url} ({@code grpc://HOST:PORT/MODEL}, which a model file gives as its {@code "url"}),
 * {@code forward_timeout_ms} (deadline of one forward, default 30000) and {@code connect_timeout_ms} (of the first
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

    private final Function<RemoteUrl, OipChannel> channels;
    private final Set<RemoteModelBackend> open = ConcurrentHashMap.newKeySet();

    /** The provider DS creates: gRPC channels. */
    public RemoteBackendProvider() {
        this(GrpcChannel::new);
    }

    RemoteBackendProvider(Function<RemoteUrl, OipChannel> channels) {
        this.channels = channels;
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
        OipChannel channel = channels.apply(remote);
        try {
            RemoteModelBackend backend = RemoteModelBackend.open(channel, remote.toString(), connectTimeout,
                    forwardTimeout);
            open.add(backend);
            return backend;
        } catch (RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    /** Closes the channels of the models still open. */
    @Deactivate
    void deactivate() {
        for (RemoteModelBackend b : List.copyOf(open)) {
            b.close();
        }
        open.clear();
    }
}
