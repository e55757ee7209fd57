package dev.arbor.imagegen;

import dev.arbor.api.generation.TokenSink;
import java.util.Arrays;

/**
 * The partial image a generator streams through {@link TokenSink#canvas} while it decodes (after each image row of a
 * raster model, after each scale of a next-scale model), as the diffusion decoders stream theirs: the whole image's
 * {@code tokens} positions, the decoded prefix holding codes and every later position the layout's null-class id
 * (which is never a code), passed as the canvas' mask id. A client renders the prefix up to the first mask id with
 * {@code ImageTokenizer.decodeImage}. Not thread-safe (one per request).
 */
public final class ImageCanvas {
    private final TokenSink sink;
    private final int[] tokens;
    private final int maskId;
    private int decoded;
    private int steps;

    /** A canvas of {@code tokens} positions, all {@code maskId} until decoded. */
    public ImageCanvas(TokenSink sink, int tokens, int maskId) {
        this.sink = sink;
        this.tokens = new int[tokens];
        this.maskId = maskId;
        Arrays.fill(this.tokens, maskId);
    }

    /** Records the next decoded token (positions fill in generation order). */
    public void put(int token) {
        tokens[decoded++] = token;
    }

    /** Positions decoded so far. */
    public int decoded() {
        return decoded;
    }

    /** Streams the canvas as step {@code ++steps} (1-based, like the diffusion decoders' steps). */
    public void stream() {
        steps++;
        sink.canvas(0, tokens.clone(), maskId, steps);
    }

    /** Canvases streamed so far. */
    public int steps() {
        return steps;
    }
}
