package dev.arbor.platform.http.internal;

import dev.arbor.platform.oip.server.ApiKeyHash;
import java.util.Map;

/**
 * The server's configuration (Config Admin PID {@code dev.arbor.http}), validated: a bad value fails activation
 * with a message naming the property.
 *
 * @param host             interface to bind (loopback by default: exposing the API is the operator's decision)
 * @param port             TCP port; 0 = ephemeral (the bound port is published on the HttpEndpoint service)
 * @param apiKey           the Bearer key every request must carry, as a salted hash; null = no authentication.
 *                         Configured as {@value #API_KEY_HASH} (what {@code arbor serve} writes) or, in clear,
 *                         {@value #API_KEY} (then Config Admin stores the key in clear: avoid)
 * @param maxBodyBytes     largest request body accepted (413 above)
 * @param maxPromptTokens  most prompt tokens a request may send; 0 = only the model's context limits it
 * @param maxTokens        largest {@code max_tokens} a request may ask for
 * @param requestTimeoutMillis deadline of one request, generation included (504 after it)
 * @param workers          generations that may run at once; more wait for a free worker until their deadline.
 *                         Default {@value #DEFAULT_WORKERS}: a batching backend (fused ONNX graphs, DJL) coalesces
 *                         the decode steps of running generations into one run at a time, so it is this number that
 *                         bounds the batch, while the cores a step uses are the backend's (its intra-op threads)
 * @param bodyTimeoutMillis time a client has to send a whole request body (408 after it): a slow sender must not
 *                         keep a request open
 * @param shutdownGraceMillis on shutdown, how long requests already generating may take to finish while new and
 *                         queued ones are refused (503 with Retry-After)
 * @param maxPromptBytes   largest prompt in UTF-8 bytes, refused before it is tokenized; 0 = derived from
 *                         {@code maxPromptTokens} (see {@link PromptLimits}), or only {@code maxBodyBytes} without it
 * @param maxImages        most images one {@code /v1/images/generations} request may ask for ({@code n})
 * @param maxConstraintBytes largest structured-output constraint (a {@code response_format} JSON schema, an
 *                         {@code arbor.regex} or {@code arbor.grammar}) in UTF-8 bytes: compiling one against the
 *                         vocabulary is work a request must not make unbounded
 */
record ServerSettings(String host, int port, ApiKeyHash apiKey, long maxBodyBytes, int maxPromptTokens, int maxTokens,
                      long requestTimeoutMillis, int workers, long bodyTimeoutMillis, long shutdownGraceMillis,
                      long maxPromptBytes, int maxImages, long maxConstraintBytes) {

    static final String HOST = "host";
    static final String PORT = "port";
    static final String API_KEY = "api_key";
    static final String API_KEY_HASH = "api_key_hash";
    static final String MAX_BODY_BYTES = "max_body_bytes";
    static final String MAX_PROMPT_TOKENS = "max_prompt_tokens";
    static final String MAX_TOKENS = "max_tokens";
    static final String REQUEST_TIMEOUT_MS = "request_timeout_ms";
    static final String WORKERS = "workers";
    /** Default of {@link #WORKERS}: as many generations as a backend batches by default (max_batch_rows). */
    static final int DEFAULT_WORKERS = 64;
    static final String BODY_TIMEOUT_MS = "body_timeout_ms";
    static final String SHUTDOWN_GRACE_MS = "shutdown_grace_ms";
    static final String MAX_PROMPT_BYTES = "max_prompt_bytes";
    static final String MAX_IMAGES = "max_images";
    /** Default of {@link #MAX_IMAGES}: as many as completions' {@code n} allows. */
    static final int DEFAULT_MAX_IMAGES = 16;
    static final String MAX_CONSTRAINT_BYTES = "max_constraint_bytes";
    /** Default of {@link #MAX_CONSTRAINT_BYTES}: a large JSON schema or grammar, far below a body's limit. */
    static final long DEFAULT_MAX_CONSTRAINT_BYTES = 64 * 1024;

    static ServerSettings from(Map<String, ?> config) {
        String host = string(config, HOST, "127.0.0.1");
        if (host.isBlank()) {
            throw new IllegalArgumentException("configuration " + HOST + " must not be blank");
        }
        return new ServerSettings(host.trim(),
                (int) number(config, PORT, 8080, 0, 65535),
                ApiKeyHash.fromConfiguration(config),
                number(config, MAX_BODY_BYTES, 1024 * 1024, 1, Integer.MAX_VALUE),
                (int) number(config, MAX_PROMPT_TOKENS, 0, 0, Integer.MAX_VALUE),
                (int) number(config, MAX_TOKENS, 4096, 1, Integer.MAX_VALUE),
                number(config, REQUEST_TIMEOUT_MS, 120_000, 1, Long.MAX_VALUE / 1_000_000L),
                (int) number(config, WORKERS, DEFAULT_WORKERS, 1, 4096),
                number(config, BODY_TIMEOUT_MS, 30_000, 1, 3_600_000),
                number(config, SHUTDOWN_GRACE_MS, 10_000, 0, 3_600_000),
                number(config, MAX_PROMPT_BYTES, 0, 0, Integer.MAX_VALUE),
                (int) number(config, MAX_IMAGES, DEFAULT_MAX_IMAGES, 1, 1024),
                number(config, MAX_CONSTRAINT_BYTES, DEFAULT_MAX_CONSTRAINT_BYTES, 1, Integer.MAX_VALUE));
    }

    boolean authenticates() {
        return apiKey != null;
    }

    private static String string(Map<String, ?> config, String key, String fallback) {
        Object v = config.get(key);
        return v == null ? fallback : v.toString();
    }

    /** Accepts numbers and numeric strings (fileinstall .cfg files carry strings). */
    private static long number(Map<String, ?> config, String key, long fallback, long min, long max) {
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
