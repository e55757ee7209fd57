package dev.arbor.platform.http.internal;

import dev.arbor.api.ArborException;

/**
 * An error answered in OpenAI's shape {@code {"error": {"message", "type", "param", "code"}}}; thrown anywhere in
 * request handling and written once by the handler.
 */
final class ApiError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    final int status;
    final String type;
    final String param;
    final String code;
    /** Seconds a client should wait before retrying (the {@code Retry-After} header), or 0 for none. */
    final int retryAfterSeconds;

    /** The server-side failure behind this answer, for the log; never sent to the client. */
    private Throwable fault;

    ApiError(int status, String type, String param, String code, String message) {
        this(status, type, param, code, message, 0);
    }

    ApiError(int status, String type, String param, String code, String message, int retryAfterSeconds) {
        super(message, null, false, false); // answered to a client, never logged with a stack trace
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message);
    }

    static ApiError unauthorized(String message) {
        return new ApiError(401, "authentication_error", null, "invalid_api_key", message);
    }

    static ApiError notFound(String message) {
        return new ApiError(404, "invalid_request_error", null, "not_found", message);
    }

    /** The server is shutting down: new and queued requests are refused, to be retried elsewhere or after a restart. */
    static ApiError stopping() {
        return new ApiError(503, "service_unavailable_error", null, "server_stopping",
                "the server is stopping; retry on another instance or after the restart", STOPPING_RETRY_SECONDS);
    }

    /** Retry-After of a stopping server: about as long as a restart takes. */
    static final int STOPPING_RETRY_SECONDS = 5;

    /** The client did not send its whole body in time ({@code message} says which limit). */
    static ApiError bodyTimeout(String message) {
        return new ApiError(408, "invalid_request_error", null, "request_timeout", message);
    }

    /** The body ended before its declared length, or the connection failed while it was read. */
    static ApiError bodyAborted(Throwable cause) {
        return new ApiError(400, "invalid_request_error", null, "incomplete_body", "the request body ended early ("
                + (cause.getMessage() == null ? cause.getClass().getSimpleName() : cause.getMessage())
                + "); send the whole body");
    }

    static ApiError timeout(long millis) {
        return new ApiError(504, "timeout_error", null, "timeout",
                "the request ran past its deadline of " + millis + " ms (request_timeout_ms) and was stopped");
    }

    /** The client closed its connection before the answer (nginx's 499): nothing can be answered any more. */
    static ApiError clientLeft() {
        return new ApiError(499, "client_closed_request", null, "client_closed_request",
                "the client closed the connection; the request's work was stopped");
    }

    /** This error with the failure behind it, which the server logs with its stack trace (the client never sees it). */
    ApiError causedBy(Throwable cause) {
        // not initCause: the constructor fixed the cause to null (no stack, no cause), so keep the fault apart
        this.fault = cause;
        return this;
    }

    @Override
    public synchronized Throwable getCause() {
        return fault;
    }

    /**
     * Maps the platform's failure kinds to HTTP: the input (400), a name (404), a missing part (503), a plugin (500).
     * A server-side fault (a plugin, a bad model) keeps {@code e} as its cause, so the log shows where it happened.
     */
    static ApiError from(ArborException e) {
        ApiError error = status(e);
        return e.kind() == ArborException.Kind.PLUGIN_FAILURE || e.kind() == ArborException.Kind.BAD_MODEL
                ? error.causedBy(e) : error;
    }

    private static ApiError status(ArborException e) {
        String message = e.getMessage();
        return switch (e.kind()) {
            case INVALID_INPUT -> new ApiError(400, "invalid_request_error", null, "invalid_input", message);
            case INCOMPATIBLE -> new ApiError(400, "invalid_request_error", "arbor", "incompatible_parts", message);
            case NOT_FOUND -> new ApiError(404, "invalid_request_error", "model", "model_not_found", message);
            case UNAVAILABLE -> new ApiError(503, "service_unavailable_error", "model", "pipeline_unavailable",
                    message);
            case CANCELLED -> new ApiError(504, "timeout_error", null, "timeout", message);
            case BAD_MODEL -> new ApiError(500, "server_error", "model", "bad_model", message);
            case PLUGIN_FAILURE -> new ApiError(500, "server_error", null, "plugin_failure", message);
        };
    }
}
