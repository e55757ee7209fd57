package dev.arbor.testkit;

import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.Selection;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link TokenSink} that records what a generator streams: accepted tokens in order and, for out-of-order
 * (diffusion) generators, every canvas with its step, so tests can check streaming as well as the result. Optionally
 * refuses tokens after a given count (a client that stops reading). Single-threaded, like generators.
 */
public final class RecordingSink implements TokenSink {

    /** One streamed canvas. */
    public record CanvasEvent(int row, int[] tokens, int maskTokenId, int step) {
    }

    private final List<Integer> tokens = new ArrayList<>();
    private final List<CanvasEvent> canvases = new ArrayList<>();
    private final int acceptLimit;

    /** Accepts every token. */
    public RecordingSink() {
        this(Integer.MAX_VALUE);
    }

    /** Returns false (stop) on the {@code acceptLimit}-th token. */
    public RecordingSink(int acceptLimit) {
        this.acceptLimit = acceptLimit;
    }

    @Override
    public boolean accept(int row, int token, Selection selection) {
        tokens.add(token);
        return tokens.size() < acceptLimit;
    }

    @Override
    public void canvas(int row, int[] tokens, int maskTokenId, int step) {
        canvases.add(new CanvasEvent(row, tokens.clone(), maskTokenId, step));
    }

    /** Accepted tokens in order. */
    public int[] tokens() {
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Streamed canvases in order. */
    public List<CanvasEvent> canvases() {
        return List.copyOf(canvases);
    }
}
