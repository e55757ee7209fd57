package dev.arbor.api.pipeline;

/** Receives a completion's text as it is generated, on the generating thread. */
@FunctionalInterface
public interface TextSink {

    /**
     * Takes the next piece of text (possibly empty while a multi-byte character or a possible stop string is held
     * back) together with the token that completed it; returns false to stop generation.
     */
    boolean onText(String delta, int token);

    TextSink DISCARD = (delta, token) -> true;
}
