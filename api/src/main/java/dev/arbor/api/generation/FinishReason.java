package dev.arbor.api.generation;

/** Why generation ended (OpenAI's finish_reason values where they exist). */
public enum FinishReason {
    /** A stop token or stop string was produced, or the sink asked to stop. */
    STOP("stop"),
    /** {@code max_tokens} or the context length was reached. */
    LENGTH("length"),
    /** The request was cancelled or ran past its deadline. */
    CANCELLED("cancelled");

    private final String wireName;

    FinishReason(String wireName) {
        this.wireName = wireName;
    }

    /** The name used on the wire (HTTP API, CLI). */
    public String wireName() {
        return wireName;
    }
}
