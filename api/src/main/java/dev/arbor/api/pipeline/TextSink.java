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

    /**
     * Like {@link #onText(String, int, double)} for a request that asked for log-probabilities (option
     * {@code logprobs}): the chosen token with its exact bytes, and the {@code top_logprobs} most likely tokens of
     * the distribution it was chosen from, most likely first: those of the logits the pipeline's selector saw, or, for a
     * token the generator chose itself (a speculative method's accepted draft token), those of the processed
     * distribution it reports; empty when none were asked for or that distribution is one-hot (a greedy choice the
     * selector did not make).
     * The platform calls this one instead of the three-argument form when log-probabilities are asked for; held-back
     * text flushed at the end still arrives through {@link #onText(String, int, double)} with token -1. The default
     * passes the token on to {@link #onText(String, int, double)}. Since 1.4.
     */
    default boolean onToken(String delta, ScoredToken chosen, java.util.List<ScoredToken> alternatives) {
        return onText(delta, chosen.id(), chosen.logProbability());
    }

    /**
     * Takes the whole generated text so far after denoising step {@code step} of a generator that decodes positions
     * out of order (masked diffusion), each undecoded position shown as {@link #MASK_PLACEHOLDER}. Called only when
     * the request asks for it (option {@code stream_canvas}); informative only: the answer is what
     * {@link #onText} streams. The default ignores canvases. Since 1.1.
     */
    default void onCanvas(String text, int step) {
    }

    /**
     * Takes the image so far after step {@code step} of a generator that sends canvases, when the pipeline's tokenizer
     * is an {@link dev.arbor.api.image.ImageTokenizer}: the canvas's leading image codes decoded with
     * {@link dev.arbor.api.image.ImageTokenizer#decodeImage} (next-scale: the scales complete so far; raster: the
     * patches so far). Called instead of {@link #onCanvas} for image pipelines, and only when the request asks for
     * canvases (option {@code stream_canvas}); informative only. The default ignores them. Since 1.3.
     *
     * @param pixels gray pixels in [0,1], [height][width]; a copy the sink may keep
     */
    default void onImageCanvas(float[][] pixels, int step) {
    }

    /** How a still-masked position is shown in {@link #onCanvas} text. */
    String MASK_PLACEHOLDER = "\u2591";

    TextSink DISCARD = (delta, token) -> true;
}
