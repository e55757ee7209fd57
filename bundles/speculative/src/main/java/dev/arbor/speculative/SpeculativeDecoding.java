package dev.arbor.speculative;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.DecodeLimits;
import dev.arbor.autoregressive.KvCache;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.sampling.SamplingMath;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * The speculative sampling loop of Leviathan, Kalman and Matias 2023 ("Fast Inference from Transformers via
 * Speculative Decoding", ICML, arXiv:2211.17192, Algorithm 1) and Chen et al. 2023 ("Accelerating Large Language
 * Model Decoding with Speculative Sampling", arXiv:2302.01318, Algorithm 2), for one row, with any {@link Drafter}.
 *
 * <p><b>One step</b>, after checking {@link GenerationContext#cancellation()}:
 * <ol>
 *   <li>The drafter proposes {@code d <= k} tokens {@code x_1..x_d} with their draft distributions
 *       {@code q_1..q_d} ({@code k = min(lookahead, budget left - 1)}, so a step never decides more tokens than the
 *       budget allows; with one token left, {@code k = 0} and the step is a plain target step).</li>
 *   <li>The target scores them in ONE forward: the committed tokens not yet in its KV state (the whole prompt at the
 *       first step, then the one token decided last) followed by {@code x_1..x_d}, appended to the state, with
 *       {@code d + 1} logit rows: row {@code i} gives the target's next-token logits before {@code x_{i+1}}, row
 *       {@code d} the bonus position.</li>
 *   <li>Rows are verified in order. Row {@code i}'s logits go through the request's {@link Sampler} (processors,
 *       then selector) with the history holding exactly the committed tokens and {@code x_1..x_i}: the selection's
 *       distribution is {@code p_i}, the processed target distribution plain decoding would draw from. {@code x} is
 *       accepted with probability {@code min(1, p(x)/q(x))}; on rejection the replacement is drawn from
 *       {@code norm(max(0, p - q))} and the step ends; if every draft is accepted, the selector's token of row
 *       {@code d} is the bonus token (METHODS.md section 2.2).</li>
 *   <li>KV rollback: the target state is truncated to the committed tokens minus the last one (that one is fed at
 *       the next step); a model drafter rolls its own state back when it next proposes.</li>
 * </ol>
 *
 * <p><b>Why the output has exactly the target's distribution</b> (Leviathan et al. Appendix A.1): for a draft
 * {@code x ~ q}, {@code P(emit v) = q(v) min(1, p(v)/q(v)) + (1 - sum_w min(q(w), p(w))) * max(0, p(v) - q(v)) /
 * sum_w max(0, p(w) - q(w)) = min(q(v), p(v)) + max(0, p(v) - q(v)) = p(v)}. Deterministic drafts are the one-hot
 * case: accept with probability {@code p(x)}, else draw from {@code p} with {@code x} removed. Because {@code p} and
 * {@code q} are the selector's own distributions, greedy decoding (a one-hot {@code p} at the target's argmax) is
 * the special case "accept iff the draft token is the target's argmax, else emit the argmax": the output equals
 * plain greedy decoding token for token.
 *
 * <p><b>Processors</b> run per position with that position's history on both draft and target rows, so
 * history-dependent processors (penalties) are honoured. Processors that draw randomness are refused (see
 * {@link #processorRefusal}); every other processor must be a function of (logits, history), which is what
 * {@link Trait#SPECULATIVE_SAFE} declares: it is run on drafted positions that may be rolled back and again on the
 * target's row for the same position.
 *
 * <p><b>Randomness</b>, all from the request's seeded RNG ({@link SamplingContext#random()}), in this order per
 * step: (1) the drafter's draws (a model drafter: its selector's draw per drafted token, in order); (2) for each
 * verified row in order: the selector's draw on the target row (the categorical selector draws one uniform; its
 * token is used only at the bonus row), then one uniform {@code u} for the acceptance test {@code u * q(x) < p(x)}
 * unless the outcome is certain ({@code p(x) = 0}: reject, else {@code p(x) >= q(x)}: accept; no draw); (3) on
 * rejection one uniform for the inverse-CDF draw from the residual ({@link SamplingMath#inverseCdf}; if rounding
 * leaves the residual without mass, from {@code p} instead).
 *
 * <p><b>Emission</b> is as in plain autoregressive decoding: accepted tokens are streamed as they are accepted; a
 * stop token ends the row with STOP and is not emitted; a sink answering false ends it with STOP; the budget is the
 * least of {@code maxNewTokens}, option {@code max_new_tokens} and the context left. Each streamed
 * {@link Selection} carries the target's processed distribution {@code p} for its position, the log-probability
 * {@code log softmax(processed target logits)[token]} (what plain decoding reports) and {@code p(token)} as
 * confidence.
 *
 * <p><b>Stats</b> ({@link GenerationResult#stats()}): {@link #STEPS} (target forwards), {@link #DRAFTED} (drafted
 * tokens sent to verification), {@link #ACCEPTED}, {@link #REJECTED} (steps that ended with a rejection),
 * {@link #ACCEPTANCE_RATE} = accepted / drafted (0 when nothing was drafted), {@link #TOKENS_PER_STEP} = tokens
 * decided (accepted drafts plus the replacement or bonus token of each step, a stop token included) / target
 * forwards, which is at least 1, {@link #LOOKAHEAD_STAT}, {@link #DRAFT_FORWARDS}, {@link #DRAFTER};
 * {@link GenerationResult#forwardPasses()} counts target forwards only.
 */
public final class SpeculativeDecoding {
    /** Option: tokens the drafter proposes per step (the paper's gamma). */
    public static final String LOOKAHEAD = "lookahead";
    /**
     * Option: caps the new tokens below {@link GenerationContext#maxNewTokens()} (never raises it).
     *
     * @deprecated the family's budget is decided in {@link DecodeLimits}; use {@link DecodeLimits#MAX_NEW_TOKENS}
     */
    @Deprecated
    public static final String MAX_NEW_TOKENS = DecodeLimits.MAX_NEW_TOKENS;

    public static final String STEPS = "speculative.steps";
    public static final String DRAFTED = "speculative.drafted";
    public static final String ACCEPTED = "speculative.accepted";
    public static final String REJECTED = "speculative.rejected";
    public static final String ACCEPTANCE_RATE = "speculative.acceptance_rate";
    public static final String TOKENS_PER_STEP = "speculative.tokens_per_step";
    public static final String LOOKAHEAD_STAT = "speculative.lookahead";
    public static final String DRAFT_FORWARDS = "speculative.draft_forwards";
    public static final String DRAFTER = "speculative.drafter";

    /**
     * What a generator built on this loop answers to {@code Generator.commitsInOrder()}: true. Tokens are committed
     * left to right; the target row of every position goes through the chain with that position's history (the
     * committed tokens and the drafts accepted before it), so a constraint processor is part of the target
     * distribution and the accept/reject test keeps the constrained distribution exactly; a token whose processed
     * target probability is zero is never accepted and never drawn from the residual. Drafters that sample run the
     * same chain on their rows, so their drafts obey the constraint too and are not wasted.
     */
    public static final boolean COMMITS_IN_ORDER = true;

    /** The deliberately wrong rejection rule of the power check: resample from p instead of the residual. */
    private final boolean resampleFromTarget;

    private SpeculativeDecoding(boolean resampleFromTarget) {
        this.resampleFromTarget = resampleFromTarget;
    }

    /**
     * Why speculative decoding cannot honour a processor with {@code traits}, or null when it can. Refused:
     * {@link Trait#USES_RANDOMNESS} without {@link Trait#SPECULATIVE_SAFE}, because such a processor is run several
     * times per committed position (on the draft row, on the target row, again after a rollback) and each run would
     * draw different randomness, so p and q would not be the distributions plain decoding samples from and the
     * acceptance test would no longer preserve the target distribution; it would also consume the request RNG out
     * of its documented order.
     */
    public static String processorRefusal(Set<Trait> traits) {
        if (traits.contains(Trait.USES_RANDOMNESS) && !traits.contains(Trait.SPECULATIVE_SAFE)) {
            return "speculative decoding applies the processor chain to draft and target rows and again after each "
                    + "rollback, so a processor with trait USES_RANDOMNESS (and not SPECULATIVE_SAFE) would draw "
                    + "new randomness for the same position each time and the accept/reject test could no longer "
                    + "keep the target distribution; use it with the 'autoregressive' generator";
        }
        return null;
    }

    /** Option {@value #LOOKAHEAD}, validated (1..64). */
    public static int lookahead(Options options, int fallback) {
        return options.integer(LOOKAHEAD, fallback, 1, 64);
    }

    /**
     * Decodes one request with {@code drafter} proposing up to {@code lookahead} tokens per step (see the class
     * comment). The drafter is closed before returning; the target state is closed on every path.
     */
    public static GenerationResult decode(GenerationContext context, TokenSink sink, Drafter drafter, int lookahead) {
        return new SpeculativeDecoding(false).run(context, sink, drafter, lookahead);
    }

    /** The power check's wrong rule (tests only, same package). */
    static GenerationResult decodeWithWrongRejection(GenerationContext context, TokenSink sink, Drafter drafter,
                                                      int lookahead) {
        return new SpeculativeDecoding(true).run(context, sink, drafter, lookahead);
    }

    private GenerationResult run(GenerationContext context, TokenSink sink, Drafter drafter, int lookahead) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        Objects.requireNonNull(drafter, "drafter");
        try (drafter) {
            if (lookahead < 1) {
                throw ArborException.invalid("option '" + LOOKAHEAD + "' must be at least 1, got " + lookahead);
            }
            ModelBackend target = context.model();
            ModelCard card = target.card();
            if (!card.supports(Capability.STATE_TRUNCATE)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "speculative decoding rolls the target's "
                        + "KV state back after a rejection, but the backend of " + card.name() + " does not "
                        + "support DecodeState.truncate (Capability.STATE_TRUNCATE)");
            }
            int[] prompt = context.prompt().clone();
            DecodeChecks.validatePrompt(prompt, card);
            int budget = DecodeLimits.budget(context, prompt.length);
            Sampler sampler = DecodeChecks.sampler(context);
            for (LogitsProcessor p : sampler.processors()) {
                String reason = processorRefusal(p.traits());
                if (reason != null) {
                    throw new ArborException(ArborException.Kind.INCOMPATIBLE, "logits processor " + p
                            + " cannot be used with " + drafter.describe() + ": " + reason);
                }
            }
            return loop(context, sink, drafter, lookahead, target, card, prompt, budget, sampler);
        }
    }

    private GenerationResult loop(GenerationContext context, TokenSink sink, Drafter drafter, int lookahead,
                                  ModelBackend target, ModelCard card, int[] prompt, int budget, Sampler sampler) {
        int vocab = card.vocabSize();
        TokenOutput output = new TokenOutput(context, sink, prompt, budget);
        SamplingContext history = output.history();
        RandomGenerator rng = output.random();
        int forwards = 0;
        long drafted = 0;
        long accepted = 0;
        long rejected = 0;
        long decided = 0;
        KvCache cache = null; // holds the committed tokens but the last decided one, between steps
        try {
            if (budget > 0) {
                cache = new KvCache(target);
            }
            steps:
            while (output.hasRoom() && !output.cancelled()) {
                int committed = history.length();
                int k = Math.min(lookahead, output.left() - 1);
                Draft draft = Draft.EMPTY;
                if (k > 0) {
                    draft = drafter.propose(new DraftRequest(history, sampler, k, context.stopTokens()));
                    if (history.length() != committed) {
                        history.truncate(committed);
                    }
                    checkDraft(draft, k, vocab, drafter);
                }
                int d = draft.size();
                int inState = cache.length();
                int pending = committed - inState;
                int[] feed = new int[pending + d];
                for (int i = 0; i < pending; i++) {
                    feed[i] = history.token(inState + i);
                }
                System.arraycopy(draft.tokens(), 0, feed, pending, d);
                int[] rows = new int[d + 1];
                for (int i = 0; i <= d; i++) {
                    rows[i] = pending - 1 + i;
                }
                ForwardResult result = cache.append(feed, rows);
                forwards++;
                drafted += d;

                int acceptedHere = 0;
                int next = -1;
                Selection nextSelection = null;
                for (int i = 0; i <= d; i++) {
                    float[] logits = DecodeChecks.checkedCopy(result.logits(0, i), card);
                    Selection targetSelection = sampler.sample(logits, history); // logits are processed in place now
                    float[] p = targetSelection.distribution();
                    if (p == null || p.length != vocab) {
                        throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector returned "
                                + (p == null ? "no distribution" : "a distribution of " + p.length + " entries")
                                + " but speculative verification needs the processed distribution over all "
                                + vocab + " ids");
                    }
                    if (i == d) {
                        next = targetSelection.token(); // bonus token: every draft was accepted
                        DecodeChecks.checkToken(next, card);
                        nextSelection = targetSelection;
                        break;
                    }
                    int x = draft.tokens()[i];
                    double px = p[x];
                    double qx = draft.probability(i);
                    boolean accept = SpeculativeRule.accept(px, qx, rng);
                    if (accept) {
                        accepted++;
                        acceptedHere++;
                        decided++;
                        // the target row's top alternatives (asked for by top_logprobs) describe this position too
                        Selection kept = selection(x, p, logits).withAlternatives(targetSelection.alternatives());
                        if (!output.commit(x, kept)) {
                            break steps;
                        }
                        continue;
                    }
                    rejected++;
                    int row = i;
                    Draft thisDraft = draft;
                    next = SpeculativeRule.resample(p, vocab, resampleFromTarget ? v -> 0.0
                            : v -> thisDraft.probability(row, v), rng);
                    nextSelection = selection(next, p, logits).withAlternatives(targetSelection.alternatives());
                    break;
                }
                decided++;
                // Rollback: the target state holds committed + all d drafts; keep committed + accepted drafts.
                cache.rollback(committed + acceptedHere);
                if (!output.commit(next, nextSelection)) {
                    break;
                }
            }
        } finally {
            if (cache != null) {
                cache.close();
            }
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put(STEPS, forwards);
        stats.put(DRAFTED, drafted);
        stats.put(ACCEPTED, accepted);
        stats.put(REJECTED, rejected);
        stats.put(ACCEPTANCE_RATE, drafted == 0 ? 0.0 : (double) accepted / drafted);
        stats.put(TOKENS_PER_STEP, forwards == 0 ? 0.0 : (double) decided / forwards);
        stats.put(LOOKAHEAD_STAT, lookahead);
        stats.put(DRAFT_FORWARDS, drafter.forwardPasses());
        stats.put(DRAFTER, drafter.describe());
        stats.put("budget", budget);
        return output.result(forwards, stats);
    }

    /** The selection streamed for {@code token}: p, log softmax of the processed target logits, p(token). */
    private static Selection selection(int token, float[] p, float[] processedLogits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : processedLogits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        for (float l : processedLogits) {
            sum += Math.exp(l - max);
        }
        double logProbability = processedLogits[token] - max - Math.log(sum);
        return new Selection(token, p, logProbability, Math.exp(logProbability));
    }

    private static void checkDraft(Draft draft, int k, int vocab, Drafter drafter) {
        if (draft.size() > k) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, drafter.describe() + " proposed "
                    + draft.size() + " tokens but was asked for at most " + k);
        }
        for (int i = 0; i < draft.size(); i++) {
            int t = draft.tokens()[i];
            if (t < 0 || t >= vocab) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, drafter.describe() + " proposed id "
                        + t + ", outside the target's vocabulary [0, " + vocab + ")");
            }
            if (draft.distributions() != null && draft.distributions()[i].length != vocab) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, drafter.describe() + " gave a draft "
                        + "distribution of " + draft.distributions()[i].length + " entries; the target's vocabulary "
                        + "has " + vocab);
            }
        }
    }
}
