package dev.arbor.api;

/**
 * The one unchecked exception of the Arbor API. Its message names the cause in words a user can act on
 * (which file, which tensor, which part, which limit); {@link #kind()} lets servers map it to a status.
 */
public class ArborException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** What went wrong, coarsely: lets the HTTP layer choose 400/404/503/500 without parsing messages. */
    public enum Kind {
        /** The request or its options are invalid (bad value, prompt longer than the context, ...). */
        INVALID_INPUT,
        /** A named thing (pipeline, part, file) does not exist. */
        NOT_FOUND,
        /** A pipeline cannot run now because a part it needs is missing; it returns when the part does. */
        UNAVAILABLE,
        /** A model or tokenizer file is malformed or does not match what the loader expects. */
        BAD_MODEL,
        /** Parts that cannot work together were combined (refused at configuration time). */
        INCOMPATIBLE,
        /** A plugin failed while running. */
        PLUGIN_FAILURE,
        /** The request ran past its deadline or was cancelled. */
        CANCELLED
    }

    private final Kind kind;

    public ArborException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public ArborException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }

    public static ArborException invalid(String message) {
        return new ArborException(Kind.INVALID_INPUT, message);
    }

    public static ArborException badModel(String message, Throwable cause) {
        return new ArborException(Kind.BAD_MODEL, message, cause);
    }
}
