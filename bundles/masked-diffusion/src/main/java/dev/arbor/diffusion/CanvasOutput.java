package dev.arbor.diffusion;

import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.Selection;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What a diffusion decoder tells the outside world: after every step the whole generation region goes to
 * {@link TokenSink#canvas} (MASK where undecoded) so a client can watch the text resolve; decoded tokens are
 * released left to right through {@link TokenSink#accept} once they are final (a decoder releases a block when it is
 * complete), stopping at the first stop token (not emitted; later positions are dropped, as LLaDA-style decoders
 * pad with EOS) or when the sink says stop; and {@link #finish} builds the {@link GenerationResult} with the forward
 * passes and tokens per forward pass. Not thread-safe (one per request).
 */
public final class CanvasOutput {
    private final GenerationContext context;
    private final TokenSink sink;
    private final Canvas canvas;
    private final Selection[] selections;
    private int[] tokens = new int[16];
    private double[] logProbs = new double[16];
    private int emitted;
    private int released;
    private int steps;
    private FinishReason reason;

    public CanvasOutput(GenerationContext context, TokenSink sink, Canvas canvas) {
        this.context = context;
        this.sink = sink;
        this.canvas = canvas;
        this.selections = new Selection[canvas.genLength()];
        this.released = canvas.promptLength();
    }

    /** Remembers how {@code proposal}'s token was chosen, for its log-probability when it is emitted. */
    public void record(Proposal proposal) {
        selections[proposal.position() - canvas.promptLength()] = proposal.selection();
    }

    /** Counts a denoising step and streams the canvas after it. */
    public void step() {
        steps++;
        sink.canvas(0, canvas.generated(), canvas.maskTokenId(), steps);
    }

    /** Steps streamed so far; also the index a decoder should stamp on the tokens of the next step. */
    public int steps() {
        return steps;
    }

    /**
     * Emits the decoded tokens of {@code [released, upTo)} in order. Returns false once the output has ended (a stop
     * token was reached or the sink refused a token): the decoder should stop.
     */
    public boolean release(int upTo) {
        if (reason != null) {
            return false;
        }
        for (int p = released; p < upTo; p++) {
            int token = canvas.token(p);
            if (token == canvas.maskTokenId()) {
                throw new IllegalStateException("position " + p + " is released while still masked");
            }
            released = p + 1;
            if (context.isStopToken(token)) {
                reason = FinishReason.STOP;
                return false;
            }
            Selection selection = selections[p - canvas.promptLength()];
            if (emitted == tokens.length) {
                tokens = Arrays.copyOf(tokens, emitted * 2);
                logProbs = Arrays.copyOf(logProbs, emitted * 2);
            }
            tokens[emitted] = token;
            logProbs[emitted] = selection == null ? 0.0 : selection.logProbability();
            emitted++;
            if (!sink.accept(0, token, selection)) {
                reason = FinishReason.STOP;
                return false;
            }
        }
        return true;
    }

    /** True once a stop token or the sink ended the output. */
    public boolean ended() {
        return reason != null;
    }

    /**
     * The result: the emitted tokens, {@code STOP} if a stop token or the sink ended them, {@code CANCELLED} when
     * {@code cancelled}, otherwise {@code LENGTH}. Stats: {@code steps}, {@code gen_length}, {@code decoded_tokens},
     * {@code forward_tokens}, {@code tokens_per_forward} (emitted tokens per forward pass) and
     * {@code decoded_per_forward} (decoded positions, EOS padding included, per forward pass), plus {@code extra}.
     */
    public GenerationResult finish(DiffusionModel model, boolean cancelled, Map<String, Object> extra) {
        FinishReason finish = reason != null ? reason : cancelled ? FinishReason.CANCELLED : FinishReason.LENGTH;
        int forwards = model.forwardPasses();
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("steps", steps);
        stats.put("gen_length", canvas.genLength());
        int decoded = canvas.genLength() - canvas.maskedCount();
        stats.put("decoded_tokens", decoded);
        stats.put("forward_tokens", model.forwardTokens());
        stats.put("tokens_per_forward", forwards == 0 ? 0.0 : (double) emitted / forwards);
        stats.put("decoded_per_forward", forwards == 0 ? 0.0 : (double) decoded / forwards);
        if (extra != null) {
            stats.putAll(extra);
        }
        return new GenerationResult(Arrays.copyOf(tokens, emitted), Arrays.copyOf(logProbs, emitted), finish,
                forwards, stats);
    }
}
