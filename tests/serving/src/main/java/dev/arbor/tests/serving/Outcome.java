package dev.arbor.tests.serving;

/** How one streaming request ended, from the client's point of view. */
public enum Outcome {
    /** A well-formed stream with a finish reason, exactly one {@code [DONE]}, the promised number of tokens. */
    OK,
    /** No usable response: transport error, timeout, or an HTTP status other than 200. */
    FAILED,
    /**
     * The stream stopped early: end of stream before {@code [DONE]} or before a finish reason, an event cut off
     * mid-way, fewer tokens than {@code max_tokens} with finish reason {@code length}, or text that is a strict
     * prefix of an expected text.
     */
    TRUNCATED,
    /** Everything arrived but broke the contract: bad JSON or chunk shape, events after [DONE], empty or wrong text. */
    MALFORMED
}
