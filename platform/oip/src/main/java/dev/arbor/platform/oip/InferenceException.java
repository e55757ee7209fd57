package dev.arbor.platform.oip;

/**
 * A request a model refused or could not serve. The status says whose fault it is, and the REST and gRPC front ends
 * map it: {@code INVALID} to 400 / INVALID_ARGUMENT, {@code NOT_FOUND} to 404 / NOT_FOUND, {@code UNAVAILABLE} to
 * 503 / UNAVAILABLE, {@code DEADLINE} to 504 / DEADLINE_EXCEEDED, {@code INTERNAL} to 500 / INTERNAL.
 */
public class InferenceException extends Exception {
    private static final long serialVersionUID = 1L;

    /** Whose fault a failure is. */
    public enum Status { INVALID, NOT_FOUND, UNAVAILABLE, DEADLINE, INTERNAL }

    private final Status status;

    public InferenceException(Status status, String message) {
        super(message);
        this.status = status;
    }

    public InferenceException(Status status, String message, Throwable cause) {
        super(message, cause);
        this.status = status;
    }

    public Status status() {
        return status;
    }
}
