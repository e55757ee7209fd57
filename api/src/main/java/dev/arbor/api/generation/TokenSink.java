package dev.arbor.api.generation;

import dev.arbor.api.sampling.Selection;

/** Receives tokens as a generator commits them, on the generator's thread. */
@FunctionalInterface
public interface TokenSink {

    /**
     * Takes the next committed token of row {@code row}; returns false to stop generation of that row
     * (a stop string appeared, the client went away).
     */
    boolean accept(int row, int token, Selection selection);

    TokenSink DISCARD = (row, token, selection) -> true;
}
