package dev.arbor.platform.runtime.internal;

import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;

/**
 * Turns committed tokens into streamed text and applies stop strings.
 *
 * <p>Detokenization is incremental with two offsets (the scheme of Hugging Face text-generation-inference): the text
 * of a token is the difference between decoding a short window with and without it, because tokenizers render a
 * piece differently at the start of a sequence (leading spaces, BOS rules). A piece that ends in U+FFFD is an
 * incomplete UTF-8 character and is held until the next token completes it. The window starts with the last prompt
 * tokens so the first generated piece is rendered as the model's upstream decoder renders it after the prompt.
 *
 * <p>Stop strings: text that could still become a stop string is held back; when one appears, the text before it
 * is flushed and generation is asked to stop. The stop string itself is never returned (OpenAI semantics).
 */
public final class TextStreamer {
    private static final int PROMPT_CONTEXT = 4;
    private final Tokenizer tokenizer;
    private final List<String> stops;
    private final int longestStop;
    private final TextSink sink;
    private int[] window;
    private int size;
    private int prefixOffset;
    private int readOffset;
    private final StringBuilder text = new StringBuilder();
    private int flushed;
    private boolean stopped;
    /** The token being delivered with its bytes and alternatives, when the request asked for log-probabilities. */
    private dev.arbor.api.pipeline.ScoredToken scored;
    private List<dev.arbor.api.pipeline.ScoredToken> alternatives = List.of();

    public TextStreamer(Tokenizer tokenizer, int[] prompt, List<String> stops, TextSink sink) {
        this.tokenizer = tokenizer;
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
        this.longestStop = this.stops.stream().mapToInt(String::length).max().orElse(0);
        this.sink = sink;
        int context = Math.min(PROMPT_CONTEXT, prompt.length);
        this.window = Arrays.copyOf(Arrays.copyOfRange(prompt, prompt.length - context, prompt.length), context + 64);
        this.size = context;
        this.readOffset = context;
    }

    /** Takes the next token; returns false once a stop string appeared or the sink asked to stop. */
    public boolean accept(int token) {
        return accept(token, Double.NaN);
    }

    /**
     * Takes the next token with its exact bytes and the alternatives it was chosen among, passed on to the sink's
     * {@link TextSink#onToken}: for requests that ask for log-probabilities.
     */
    public boolean accept(dev.arbor.api.pipeline.ScoredToken token, List<dev.arbor.api.pipeline.ScoredToken> top) {
        scored = token;
        alternatives = top;
        try {
            return accept(token.id(), token.logProbability());
        } finally {
            scored = null;
            alternatives = List.of();
        }
    }

    /** Takes the next token and its log-probability (passed on to the sink). */
    public boolean accept(int token, double logProbability) {
        if (stopped) {
            return false;
        }
        if (size == window.length) {
            window = Arrays.copyOf(window, window.length * 2);
        }
        window[size++] = token;
        String before = tokenizer.decode(Arrays.copyOfRange(window, prefixOffset, readOffset));
        String after = tokenizer.decode(Arrays.copyOfRange(window, prefixOffset, size));
        if (after.length() <= before.length() || after.endsWith("\uFFFD") || !after.startsWith(before)) {
            // nothing printable yet (incomplete character) or a tokenizer that re-renders earlier text:
            // keep the window growing until the new text extends the old
            return deliver(token, logProbability);
        }
        String delta = after.substring(before.length());
        prefixOffset = readOffset;
        readOffset = size;
        if (prefixOffset > 256) {
            // keep the window short: drop what no later decode needs
            int drop = prefixOffset;
            window = Arrays.copyOfRange(window, drop, drop + Math.max(64, (size - drop) * 2));
            size -= drop;
            readOffset -= drop;
            prefixOffset = 0;
        }
        text.append(delta);
        return deliver(token, logProbability);
    }

    private boolean deliver(int token, double logProbability) {
        int searchFrom = Math.max(0, flushed - Math.max(0, longestStop - 1));
        int stopAt = -1;
        for (String stop : stops) {
            int i = text.indexOf(stop, searchFrom);
            if (i >= 0 && (stopAt < 0 || i < stopAt)) {
                stopAt = i;
            }
        }
        if (stopAt >= 0) {
            text.setLength(stopAt);
            flush(stopAt, token, logProbability);
            stopped = true;
            return false;
        }
        int flushTo = text.length() - heldBack();
        return flush(flushTo, token, logProbability);
    }

    /** Length of the longest suffix of the text that is a proper prefix of some stop string. */
    private int heldBack() {
        int best = 0;
        for (String stop : stops) {
            for (int k = Math.min(stop.length() - 1, text.length()); k > best; k--) {
                if (text.substring(text.length() - k).equals(stop.substring(0, k))) {
                    best = k;
                    break;
                }
            }
        }
        return best;
    }

    private boolean flush(int to, int token, double logProbability) {
        String piece = to > flushed ? text.substring(flushed, to) : "";
        flushed = Math.max(flushed, to);
        boolean more = scored != null && scored.id() == token ? sink.onToken(piece, scored, alternatives)
                : sink.onText(piece, token, logProbability);
        if (!more) {
            stopped = true;
        }
        return more;
    }

    /** True once a stop string ended the text. */
    public boolean stopped() {
        return stopped;
    }

    /** Flushes held-back text (a partial stop string that never completed) and returns the whole text. */
    public String finish() {
        if (!stopped && flushed < text.length()) {
            sink.onText(text.substring(flushed), -1, Double.NaN);
            flushed = text.length();
        }
        return text.toString();
    }
}
