package dev.arbor.generation.autoregressive;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.DecodeLimits;
import dev.arbor.generation.autoregressive.BeamHypotheses.EarlyStopping;
import dev.arbor.generation.autoregressive.BeamHypotheses.Hypothesis;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import org.osgi.service.component.annotations.Component;

/**
 * Beam search with the semantics of HF transformers' {@code GenerationMixin._beam_search} and
 * {@code BeamSearchScorer} / {@code BeamHypotheses} ({@code generation/utils.py}, {@code generation/beam_search.py},
 * v4.4x, before the 4.50 vectorised rewrite, which keeps the same semantics).
 *
 * <p><b>Per step</b>: for every beam, the logits are copied, the beam's own processor chain is applied with the
 * beam's history, and {@code log_softmax} of the result gives the token scores; each candidate's score is the beam's
 * running sum plus that. The top {@code max(2, 1 + #stop tokens) * num_beams} candidates over all beams (HF's
 * {@code n_tokens_to_keep}; ties broken by beam then token id) are walked best first: a stop-token candidate
 * ranked within the first {@code num_beams} becomes a finished hypothesis (the stop token itself is not part of the
 * returned tokens, but its log-probability is in the score), one ranked lower is skipped; the others fill the
 * {@code num_beams} beam slots in order. The search is done when {@link BeamHypotheses#isDone} says so for the best
 * candidate score of the step, or when the length budget is used up; beams still running are then added as
 * hypotheses (HF's {@code finalize}). As in HF, beams 1..n-1 start with score {@code -1e9} so the first step
 * expands beam 0 only.
 *
 * <p><b>Deliberate differences from HF</b>: HF applies the logits processors to {@code log_softmax(logits)} and does
 * not renormalise; here the chain is applied to the logits and {@code log_softmax} is taken after, so scores are
 * true log-probabilities of the processed distribution (identical to HF with an empty chain or a temperature of
 * 1). Scores are kept in double rather than float32. The selector of the chain is not used: there is no beam
 * sampling ({@code do_sample=True} with beams), and no diverse/constrained beam search. A candidate whose processed
 * score is {@code -inf} (a constraint processor's mask) is never taken, a stop-token one included; when fewer
 * allowed candidates than beams remain, the spare slots hold dead beams (score {@code -inf}, never extended nor
 * returned) instead of failing, and when none remains the search ends with the hypotheses it has (HF fills such
 * slots with {@code -inf} beams that may still surface).
 *
 * <p><b>Options</b>: {@code num_beams} (1..1024, default 1), {@code length_penalty} (default 1.0; score =
 * sum logprob / len^length_penalty with len the generated length including the stop token, see
 * {@link BeamHypotheses}), {@code early_stopping} (true, false (default) or "never", see {@link EarlyStopping}),
 * {@code num_return_sequences} (1..num_beams, default 1), {@code max_new_tokens} (caps the request's limit),
 * {@code use_cache} (default true; false recomputes every beam each step, the reference path). The length budget
 * is as in {@link AutoregressiveGenerator}; it also plays HF's {@code max_length - prompt_length} in the "never"
 * bound.
 *
 * <p><b>Output</b>: tokens are emitted only when the search ends: the best hypothesis is sent to the sink token by
 * token (stopping early if the sink says so), then the result is returned. Finish reason: STOP when the best
 * hypothesis ended with a stop token (or the sink stopped it), LENGTH when it ran to the budget, CANCELLED when the
 * request was cancelled (the best hypothesis so far is then returned). Each emitted {@link Selection} carries a
 * one-hot distribution (a beam choice is a deterministic pick, as argmax) and the token's processed log-probability.
 * Stats: {@code score}, {@code sum_logprob}, {@code sequences} and {@code sequence_scores} (the
 * {@code num_return_sequences} best, best first, the first being the result), {@code num_beams}, {@code steps},
 * {@code state_mode}, {@code prefill_tokens}, {@code forward_tokens}.
 *
 * <p><b>Processors and beams</b>: each beam slot has its own chain from the context's supplier and its own
 * {@link SamplingContext} (forked on reorder, sharing the request RNG), so history-dependent processors see the
 * beam's real history. The API offers no way to copy a chain, so private state a processor keeps across calls
 * stays with the slot, not the beam; processors should derive what they need from the context.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=beam-search",
        PartProperties.DESCRIPTION + "=Beam search with HF semantics (num_beams, length_penalty, early_stopping)"})
public final class BeamSearchGenerator implements Generator {
    static final String NUM_BEAMS = "num_beams";
    static final String LENGTH_PENALTY = "length_penalty";
    static final String EARLY_STOPPING = "early_stopping";
    static final String NUM_RETURN_SEQUENCES = "num_return_sequences";
    /** HF's initial score of beams 1..n-1, so that the first step expands only beam 0. */
    private static final double INACTIVE_BEAM_SCORE = -1e9;

    /**
     * Each beam's chain runs with that beam's own history, and a candidate the processed distribution rules out
     * (score {@code -inf}) never extends a beam nor becomes a hypothesis (see the class comment).
     */
    @Override
    public boolean commitsInOrder() {
        return true;
    }

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        ModelCard card = context.model().card();
        Options options = context.options();
        int numBeams = options.integer(NUM_BEAMS, 1, 1, 1024);
        double lengthPenalty = options.number(LENGTH_PENALTY, 1.0, -1000, 1000);
        EarlyStopping earlyStopping = earlyStopping(options);
        int numReturn = options.integer(NUM_RETURN_SEQUENCES, 1, 1, numBeams);
        boolean useCache = DecodeLimits.useCache(options);
        int[] prompt = context.prompt().clone();
        DecodeChecks.validatePrompt(prompt, card);
        int budget = DecodeLimits.budget(context, prompt.length);
        int vocab = card.vocabSize();
        int keep = (int) Math.min((long) Math.max(2, 1 + context.stopTokens().length) * numBeams,
                (long) numBeams * vocab);

        Beam[] beams = new Beam[numBeams];
        SamplingContext root = SamplingContext.seeded(prompt, vocab, context.seed());
        Sampler[] chains = new Sampler[numBeams];
        for (int i = 0; i < numBeams; i++) {
            beams[i] = new Beam(new int[0], new double[0], i == 0 ? 0.0 : INACTIVE_BEAM_SCORE,
                    i == 0 ? root : root.fork());
            chains[i] = DecodeChecks.sampler(context);
        }
        BeamHypotheses hypotheses = new BeamHypotheses(numBeams, lengthPenalty, earlyStopping, budget);
        boolean done = false;
        boolean cancelled = false;
        int steps = 0;
        BeamStates states = BeamStates.choose(context.model(), numBeams, useCache);
        try {
            while (steps < budget) {
                if (context.cancellation().isCancelled()) {
                    cancelled = true;
                    break;
                }
                float[][] logits = steps == 0 ? states.prefill(prompt) : states.step(sequences(prompt, beams));
                double[][] scores = new double[numBeams][];
                for (int i = 0; i < numBeams; i++) {
                    float[] row = DecodeChecks.checkedCopy(logits[i], card);
                    chains[i].process(row, beams[i].history);
                    scores[i] = logSoftmax(row);
                }
                Candidate[] candidates = topCandidates(beams, scores, keep);

                int[] sources = new int[numBeams];
                Beam[] next = new Beam[numBeams];
                int filled = 0;
                for (int rank = 0; rank < candidates.length && filled < numBeams; rank++) {
                    Candidate c = candidates[rank];
                    if (c.score == Double.NEGATIVE_INFINITY) {
                        break; // ruled out by the chain (a constraint's mask) or from a dead slot: never kept
                    }
                    Beam from = beams[c.beam];
                    if (context.isStopToken(c.token)) {
                        if (rank >= numBeams) {
                            continue; // HF: an EOS ranked below num_beams is not worth a hypothesis
                        }
                        hypotheses.add(from.tokens, from.logProbs, c.score, steps + 1, true);
                    } else {
                        sources[filled] = c.beam;
                        next[filled] = from.extend(c.token, scores[c.beam][c.token], c.score);
                        filled++;
                    }
                }
                if (filled == 0) {
                    // every possible continuation ends here or is ruled out: what finished is all there is
                    steps++;
                    done = true;
                    break;
                }
                for (int slot = filled; slot < numBeams; slot++) {
                    // Fewer allowed continuations than beams (a constraint allows few tokens, a tiny vocabulary):
                    // the slot holds a dead copy of the best beam, whose candidates all score -inf, so it is
                    // never extended nor returned; its chain still sees a history the chain allowed.
                    sources[slot] = sources[0];
                    Beam best = next[0];
                    next[slot] = new Beam(best.tokens, best.logProbs, Double.NEGATIVE_INFINITY, best.history.fork());
                }
                done = hypotheses.isDone(candidates[0].score, steps + 1);
                states.reorder(sources);
                beams = next;
                steps++;
                if (done) {
                    break;
                }
            }
            if (!done && steps > 0) {
                for (Beam b : beams) {
                    if (b.score != Double.NEGATIVE_INFINITY) {
                        hypotheses.add(b.tokens, b.logProbs, b.score, steps, false);
                    }
                }
            }
        } finally {
            states.close();
        }

        List<Hypothesis> best = hypotheses.bestFirst();
        Map<String, Object> stats = new LinkedHashMap<>();
        List<List<Integer>> sequences = new ArrayList<>();
        List<Double> sequenceScores = new ArrayList<>();
        for (int i = 0; i < Math.min(numReturn, best.size()); i++) {
            sequences.add(Arrays.stream(best.get(i).tokens()).boxed().toList());
            sequenceScores.add(best.get(i).score());
        }
        stats.put("sequences", List.copyOf(sequences));
        stats.put("sequence_scores", List.copyOf(sequenceScores));
        stats.put("num_beams", numBeams);
        stats.put("steps", steps);
        stats.put("state_mode", states.name());
        stats.put("prefill_tokens", states.forwards == 0 ? 0 : prompt.length);
        stats.put("forward_tokens", states.forwardTokens);
        if (best.isEmpty()) {
            // Nothing was decoded (zero budget, or cancelled before the first step).
            return new GenerationResult(new int[0], new double[0],
                    cancelled ? FinishReason.CANCELLED : FinishReason.LENGTH, states.forwards, stats);
        }
        Hypothesis winner = best.get(0);
        stats.put("score", winner.score());
        stats.put("sum_logprob", winner.sumLogProbs());
        FinishReason reason = cancelled ? FinishReason.CANCELLED
                : winner.endedByStop() ? FinishReason.STOP : FinishReason.LENGTH;
        int[] tokens = winner.tokens();
        double[] logProbs = winner.logProbs();
        for (int i = 0; i < tokens.length; i++) {
            float[] oneHot = new float[vocab];
            oneHot[tokens[i]] = 1f;
            if (!sink.accept(0, tokens[i], new Selection(tokens[i], oneHot, logProbs[i], Math.exp(logProbs[i])))) {
                tokens = Arrays.copyOf(tokens, i + 1);
                logProbs = Arrays.copyOf(logProbs, i + 1);
                reason = cancelled ? FinishReason.CANCELLED : FinishReason.STOP;
                break;
            }
        }
        return new GenerationResult(tokens, logProbs, reason, states.forwards, stats);
    }

    private static EarlyStopping earlyStopping(Options options) {
        Object raw = options.raw(EARLY_STOPPING).orElse(Boolean.FALSE);
        String value = raw.toString().trim().toLowerCase(Locale.ROOT);
        switch (value) {
            case "true":
                return EarlyStopping.TRUE;
            case "false":
                return EarlyStopping.FALSE;
            case "never":
                return EarlyStopping.NEVER;
            default:
                throw ArborException.invalid("option '" + EARLY_STOPPING + "' must be true (stop once num_beams "
                        + "hypotheses are finished), false (HF's heuristic bound) or \"never\" (the exact bound), got '"
                        + raw + "'");
        }
    }

    /**
     * {@code log softmax(logits)} in double (as HF upcasts to float32 before it; double costs nothing here). A row
     * whose every entry is {@code -inf} (a chain that removed every token) stays all {@code -inf} instead of NaN.
     */
    private static double[] logSoftmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double[] out = new double[logits.length];
        if (max == Double.NEGATIVE_INFINITY) {
            java.util.Arrays.fill(out, Double.NEGATIVE_INFINITY);
            return out;
        }
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        double logZ = max + Math.log(sum);
        for (int i = 0; i < logits.length; i++) {
            out[i] = logits[i] - logZ;
        }
        return out;
    }

    private static int[][] sequences(int[] prompt, Beam[] beams) {
        int[][] out = new int[beams.length][];
        for (int i = 0; i < beams.length; i++) {
            out[i] = Arrays.copyOf(prompt, prompt.length + beams[i].tokens.length);
            System.arraycopy(beams[i].tokens, 0, out[i], prompt.length, beams[i].tokens.length);
        }
        return out;
    }

    /**
     * The {@code keep} best (beam score + token score) over all beams, best first; ties go to the lower beam, then
     * the lower token id (torch.topk leaves tie order unspecified; this makes it deterministic).
     */
    private static Candidate[] topCandidates(Beam[] beams, double[][] scores, int keep) {
        // A min-heap of the best so far: the root is the worst kept candidate.
        PriorityQueue<Candidate> heap = new PriorityQueue<>(keep + 1, Candidate::compareWorseFirst);
        for (int b = 0; b < beams.length; b++) {
            double base = beams[b].score;
            double[] row = scores[b];
            for (int v = 0; v < row.length; v++) {
                Candidate c = new Candidate(b, v, base + row[v]);
                if (heap.size() < keep) {
                    heap.add(c);
                } else if (Candidate.compareWorseFirst(c, heap.peek()) > 0) {
                    heap.poll();
                    heap.add(c);
                }
            }
        }
        Candidate[] out = heap.toArray(new Candidate[0]);
        Arrays.sort(out, (x, y) -> Candidate.compareWorseFirst(y, x));
        return out;
    }

    /** One candidate continuation: beam, token, and the beam's score after it. */
    private record Candidate(int beam, int token, double score) {
        /** Negative when {@code a} ranks below {@code b}. */
        static int compareWorseFirst(Candidate a, Candidate b) {
            int c = Double.compare(a.score, b.score);
            if (c != 0) {
                return c;
            }
            c = Integer.compare(b.beam, a.beam);
            return c != 0 ? c : Integer.compare(b.token, a.token);
        }
    }

    /** A running beam: generated tokens, their log-probabilities, the running sum, and the chain's history. */
    private record Beam(int[] tokens, double[] logProbs, double score, SamplingContext history) {
        Beam extend(int token, double logProb, double newScore) {
            int[] t = Arrays.copyOf(tokens, tokens.length + 1);
            t[tokens.length] = token;
            double[] l = Arrays.copyOf(logProbs, logProbs.length + 1);
            l[logProbs.length] = logProb;
            SamplingContext h = history.fork();
            h.append(token);
            return new Beam(t, l, newScore, h);
        }
    }
}
