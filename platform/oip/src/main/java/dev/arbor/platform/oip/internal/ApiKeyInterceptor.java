package dev.arbor.platform.oip.internal;

import dev.arbor.platform.oip.server.ApiKeyHash;
import dev.arbor.platform.oip.grpc.GRPCInferenceServiceGrpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.util.Set;

/**
 * Requires the API key, as the HTTP routes do, in metadata {@code authorization: Bearer <key>}, on every call but the
 * health checks: {@code ServerLive} and {@code ServerReady} tell only a boolean, and probes (Kubernetes, balancers)
 * cannot be given a secret.
 */
final class ApiKeyInterceptor implements ServerInterceptor {
    static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization",
            Metadata.ASCII_STRING_MARSHALLER);
    private static final Set<String> OPEN = Set.of(GRPCInferenceServiceGrpc.getServerLiveMethod().getFullMethodName(),
            GRPCInferenceServiceGrpc.getServerReadyMethod().getFullMethodName());

    private final ApiKeyHash key;

    ApiKeyInterceptor(ApiKeyHash key) {
        this.key = key;
    }

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
                                                       ServerCallHandler<Q, R> next) {
        if (!OPEN.contains(call.getMethodDescriptor().getFullMethodName())) {
            String header = headers.get(AUTHORIZATION);
            String problem = header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)
                    ? "missing API key: send metadata 'authorization: Bearer <key>'"
                    : key.matches(header.substring(7).trim()) ? null : "incorrect API key";
            if (problem != null) {
                call.close(Status.UNAUTHENTICATED.withDescription(problem), new Metadata());
                return new ServerCall.Listener<>() { };
            }
        }
        return next.startCall(call, headers);
    }
}
