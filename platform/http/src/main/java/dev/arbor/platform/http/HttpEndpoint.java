package dev.arbor.platform.http;

import java.net.URI;
import org.osgi.annotation.versioning.ProviderType;

/**
 * Registered by the HTTP server once it listens, with service properties {@value #HOST_PROPERTY} and
 * {@value #PORT_PROPERTY} (the bound port, also when port 0 asked for an ephemeral one), so that the CLI and tests
 * can find the server by the interface name without loading this class.
 */
@ProviderType
public interface HttpEndpoint {
    /** Service property: the host the server is bound to. */
    String HOST_PROPERTY = "arbor.http.host";
    /** Service property: the port the server is bound to (an Integer). */
    String PORT_PROPERTY = "arbor.http.port";
    /** The Config Admin PID that configures (and, by existing, starts) the server. */
    String PID = "dev.arbor.http";

    /** The server's base address, e.g. {@code http://127.0.0.1:8080/}. */
    URI uri();
}
