package dev.arbor.api.pipeline;

/** Receives a completion's text as it is generated, on the generating thread. */
@FunctionalInterface
public interface TextSink {

    /**
     * Takes the next piece of text (possibly empty while a multi-byte character or a possible stop string is held
     * back) together with the token that completed it; returns false to stop generation.
     */
    boolean onText(String delta, int token);

    /**
     * Like {@link #onText(String, int)} with the token's log-probability under the processed distribution (NaN when
     * {@code token} is -1: held-back text flushed at the end). The platform calls this one; override it to stream
     * log-probabilities.
     */
    default boolean onText(String delta, int token, double logProbability) {
        return onText(delta, token);
    }

    TextSink DISCARD = (delta, token) -> true;
}
