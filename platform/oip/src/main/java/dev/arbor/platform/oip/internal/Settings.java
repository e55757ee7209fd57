package dev.arbor.platform.oip.internal;

import dev.arbor.platform.oip.server.ApiKeyHash;
import java.util.Map;

/**
 * The gRPC server's settings, read from configuration {@code dev.arbor.http} (the one {@code arbor serve} writes),
 * so that both front ends share the API key, limits and deadline: {@value #GRPC_PORT} starts the server (absent: no
 * gRPC server; 0: any free port), {@value #GRPC_HOST} is its interface (default: the HTTP server's {@code host},
 * itself loopback by default). A bad value fails activation with a message naming the property.
 *
 * @param host                 interface to bind
 * @param port                 TCP port, or -1 when no gRPC server is configured
 * @param apiKey               the key every call but the health checks must present; null = none
 * @param maxTokens            largest {@code max_tokens}
 * @param maxPromptTokens      most prompt tokens; 0 = the model's context
 * @param maxPromptBytes       largest prompt in UTF-8 bytes; 0 = derived from maxPromptTokens
 * @param requestTimeoutMillis deadline of one call (a client's shorter deadline wins)
 * @param workers              inferences running at once
 * @param maxMessageBytes      largest request message ({@code max_body_bytes})
 * @param shutdownGraceMillis  on stop, time running calls get to finish
 */
record Settings(String host, int port, ApiKeyHash apiKey, int maxTokens, int maxPromptTokens, long maxPromptBytes,
                long requestTimeoutMillis, int workers, int maxMessageBytes, long shutdownGraceMillis) {
    static final String GRPC_PORT = "grpc_port";
    static final String GRPC_HOST = "grpc_host";

    static Settings from(Map<String, ?> config) {
        String host = string(config, GRPC_HOST, string(config, "host", "127.0.0.1"));
        if (host.isBlank()) {
            throw new IllegalArgumentException("configuration " + GRPC_HOST + " must not be blank");
        }
        return new Settings(host.strip(), (int) number(config, GRPC_PORT, -1, -1, 65535), ApiKeyHash.fromConfiguration(config),
                (int) number(config, "max_tokens", 4096, 1, Integer.MAX_VALUE),
                (int) number(config, "max_prompt_tokens", 0, 0, Integer.MAX_VALUE),
                number(config, "max_prompt_bytes", 0, 0, Integer.MAX_VALUE),
                number(config, "request_timeout_ms", 120_000, 1, Long.MAX_VALUE / 1_000_000L),
                (int) number(config, "workers", 64, 1, 4096),
                (int) number(config, "max_body_bytes", 1024 * 1024, 1, Integer.MAX_VALUE),
                number(config, "shutdown_grace_ms", 10_000, 0, 3_600_000));
    }

    boolean enabled() {
        return port >= 0;
    }

    static String string(Map<String, ?> config, String key, String fallback) {
        Object v = config.get(key);
        return v == null ? fallback : v.toString();
    }

    /** Accepts numbers and numeric strings (fileinstall .cfg files carry strings). */
    static long number(Map<String, ?> config, String key, long fallback, long min, long max) {
        Object v = config.get(key);
        if (v == null || v.toString().isBlank()) {
            return fallback;
        }
        long value;
        try {
            value = v instanceof Number n ? n.longValue() : Long.parseLong(v.toString().trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("configuration " + key + " must be an integer, got '" + v + "'");
        }
        if (value < min || value > max) {
            throw new IllegalArgumentException("configuration " + key + " must be between " + min + " and " + max
                    + ", got " + value);
        }
        return value;
    }
}
