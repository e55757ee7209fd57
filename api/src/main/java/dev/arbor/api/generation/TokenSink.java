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

    /**
     * Takes the whole generated region of row {@code row} after denoising step {@code step} of a generator that
     * decodes positions out of order (masked diffusion), so a client can watch the text resolve. Positions not yet
     * decoded hold {@code maskTokenId}. Purely informative: such generators still stream their final tokens in order
     * through {@link #accept}, which alone decides the output. The default ignores canvases. Since 1.1.
     *
     * @param tokens a copy the sink may keep
     */
    default void canvas(int row, int[] tokens, int maskTokenId, int step) {
    }

    TokenSink DISCARD = (row, token, selection) -> true;
}
