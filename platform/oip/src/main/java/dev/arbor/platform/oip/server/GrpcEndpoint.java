package dev.arbor.platform.oip.server;

import org.osgi.annotation.versioning.ProviderType;

/**
 * Registered by the gRPC server once it listens, with service properties {@value #HOST_PROPERTY} and {@value
 * #PORT_PROPERTY} (the bound port, also when port 0 asked for an ephemeral one), so that the CLI and tests find it by
 * the interface name.
 */
@ProviderType
public interface GrpcEndpoint {
    /** Service property: the host the server is bound to. */
    String HOST_PROPERTY = "arbor.grpc.host";
    /** Service property: the port the server is bound to (an Integer). */
    String PORT_PROPERTY = "arbor.grpc.port";

    String host();

    int port();
}
