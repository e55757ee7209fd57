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

    ApiError(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
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

    static ApiError timeout(long millis) {
        return new ApiError(504, "timeout_error", null, "timeout",
                "the request ran past its deadline of " + millis + " ms (request_timeout_ms) and was stopped");
    }

    /** This error with the failure behind it, which the server logs with its stack trace (the client never sees it). */
    ApiError causedBy(Throwable cause) {
        initCause(cause);
        return this;
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
