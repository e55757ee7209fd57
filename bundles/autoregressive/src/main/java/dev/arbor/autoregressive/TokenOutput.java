package dev.arbor.autoregressive;

import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.random.RandomGenerator;

/**
 * The commit step of every autoregressive loop, for one row: a stop token ends the row with
 * {@link FinishReason#STOP} and is not emitted; any other token is appended to the history the chain sees, recorded
 * with its log-probability and streamed to the sink, whose false answer ends the row with STOP (the token counting
 * as emitted); a cancelled request ends with {@link FinishReason#CANCELLED}; a row that used its budget ends with
 * {@link FinishReason#LENGTH}. Not thread-safe (one per request).
 */
public final class TokenOutput {
    private final GenerationContext context;
    private final TokenSink sink;
    private final SamplingContext history;
    private final int budget;
    private int[] tokens;
    private double[] logProbs;
    private int generated;
    private FinishReason reason = FinishReason.LENGTH;

    /**
     * A row over the request's own history: the prompt, the model's vocabulary and the request's one RNG, seeded
     * with {@link GenerationContext#seed()} ({@link #history()}, {@link #random()}).
     *
     * @param prompt the prompt (validated, see {@link DecodeChecks#validatePrompt})
     * @param budget the most tokens this row may generate ({@link DecodeLimits#budget})
     */
    public TokenOutput(GenerationContext context, TokenSink sink, int[] prompt, int budget) {
        this(context, sink, SamplingContext.seeded(prompt, context.model().card().vocabSize(), context.seed()),
                budget);
    }

    /**
     * @param history the chain's history (prompt + committed tokens, with the request's seeded RNG); committed
     *                tokens are appended to it
     * @param budget  the most tokens this row may generate ({@link DecodeLimits#budget})
     */
    public TokenOutput(GenerationContext context, TokenSink sink, SamplingContext history, int budget) {
        this.context = Objects.requireNonNull(context, "context");
        this.sink = Objects.requireNonNull(sink, "sink");
        this.history = Objects.requireNonNull(history, "history");
        this.budget = budget;
        this.tokens = new int[Math.max(0, Math.min(budget, 256))];
        this.logProbs = new double[tokens.length];
    }

    /** The chain's history: prompt + committed tokens; loops append drafted tokens and truncate them again. */
    public SamplingContext history() {
        return history;
    }

    /**
     * The request's RNG, seeded with its seed: every draw of the request (the selector's, acceptance tests, fresh
     * drafts) comes from it, in an order the loop documents, so one seed reproduces one output.
     */
    public RandomGenerator random() {
        return history.random();
    }

    /** True while the row may take another token: budget left and no stop. */
    public boolean hasRoom() {
        return generated < budget;
    }

    /** Tokens the row may still take. */
    public int left() {
        return budget - generated;
    }

    /** Tokens committed so far. */
    public int generated() {
        return generated;
    }

    public int budget() {
        return budget;
    }

    /** True (and the row finishes with CANCELLED) when the request was cancelled; loops ask once per step. */
    public boolean cancelled() {
        if (context.cancellation().isCancelled()) {
            reason = FinishReason.CANCELLED;
            return true;
        }
        return false;
    }

    /** True (and the row finishes with STOP) when {@code token} is a stop token; it is then not emitted. */
    public boolean stopsAt(int token) {
        if (context.isStopToken(token)) {
            reason = FinishReason.STOP;
            return true;
        }
        return false;
    }

    /**
     * Appends {@code token} to the history, records it with {@code selection}'s log-probability and streams it;
     * false when the sink asked to stop (the row then finishes with STOP). For loops that must build the selection
     * between the stop check ({@link #stopsAt}) and the commit.
     */
    public boolean emit(int token, Selection selection) {
        history.append(token);
        if (generated == tokens.length) {
            int grown = Math.min(budget, Math.max(16, tokens.length * 2));
            tokens = Arrays.copyOf(tokens, Math.max(grown, generated + 1));
            logProbs = Arrays.copyOf(logProbs, tokens.length);
        }
        tokens[generated] = token;
        logProbs[generated] = selection.logProbability();
        generated++;
        if (!sink.accept(0, token, selection)) {
            reason = FinishReason.STOP;
            return false;
        }
        return true;
    }

    /** The commit step: {@code !stopsAt(token) && emit(token, selection)}; false when the row is finished. */
    public boolean commit(int token, Selection selection) {
        return !stopsAt(token) && emit(token, selection);
    }

    /** Why the row finished (LENGTH until something else ended it). */
    public FinishReason reason() {
        return reason;
    }

    /** The result: the committed tokens, their log-probabilities, the finish reason, and the loop's counts. */
    public GenerationResult result(int forwardPasses, Map<String, Object> stats) {
        return new GenerationResult(Arrays.copyOf(tokens, generated), Arrays.copyOf(logProbs, generated), reason,
                forwardPasses, stats);
    }
}
