package ${package};

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TopTokens;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.DecodeLimits;
import dev.arbor.autoregressive.KvCache;
import dev.arbor.autoregressive.TokenOutput;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.osgi.service.component.annotations.Component;

/**
 * Generator {@code best-of-k}: samples k complete candidates with the pipeline's sampling chain and answers the one
 * with the highest length-normalised log-probability, {@code sum log p / len^length_penalty} (the score of Hugging
 * Face's beam hypotheses; len counts the stop token when a candidate ends with one, and its log-probability is in
 * the sum). This is OpenAI's {@code best_of} of the legacy completions API, done on the server: every candidate is
 * an ordinary sample, so with k = 1 it is plain sampling, and under greedy decoding every candidate is the greedy
 * text.
 *
 * <p>Built on the autoregressive toolkit ({@code dev.arbor.autoregressive}, bundle {@code autoregressive}): the
 * prompt checks, the budget, the single-row KV cache and the commit step are the toolkit's, so the loop below is
 * the one its package documentation shows, run once per candidate.
 *
 * <p><b>Options</b>: {@value #BEST_OF} (1..{@value #MAX_BEST_OF}, default {@value #DEFAULT_BEST_OF}), {@value
 * #LENGTH_PENALTY} (0..4, default 1: the mean log-probability; 0 compares whole-sequence probabilities), and the
 * toolkit's {@code max_new_tokens}. Candidates are decoded one after the other, each from a fresh KV cache (k
 * prefills; a cost of k x max_tokens forwards, which is why k is bounded).
 *
 * <p><b>Randomness</b>: every draw comes from the request's one RNG (seeded with its seed), candidate 1's draws
 * first, then candidate 2's, and so on; a seed reproduces the answer. <b>Output</b>: tokens reach the sink only
 * when every candidate is decoded (the winner's, in order, each with its log-probability and its top_logprobs
 * alternatives); the first of equal scores wins. A cancelled request (deadline, client gone) stops at once and
 * emits nothing. Stats: {@code best_of}, {@code chosen} (0-based), {@code scores}, {@code score}.
 */
@Component(service = Generator.class, property = {
    PartProperties.NAME + "=" + BestOfKGenerator.NAME,
    PartProperties.DESCRIPTION + "=Samples best_of candidates and answers the most probable (length_penalty)"})
public final class BestOfKGenerator implements Generator {
    /** The part's name: what pipelines and requests write. */
    public static final String NAME = "best-of-k";
    /** Option: how many candidates to sample. */
    public static final String BEST_OF = "best_of";
    /** Option: the exponent of the length normalisation. */
    public static final String LENGTH_PENALTY = "length_penalty";
    public static final int DEFAULT_BEST_OF = 4;
    public static final int MAX_BEST_OF = 16;

    /**
     * Each candidate's tokens are selected left to right, the chain (a fresh one per candidate) seeing that
     * candidate's own history, and a token the processed distribution rules out is never chosen: so processors
     * that constrain the output (grammars) may run under this generator.
     */
    @Override
    public boolean commitsInOrder() {
        return true;
    }

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Options options = context.options();
        // every option is checked before the first forward: a bad value costs nothing
        int bestOf = options.integer(BEST_OF, DEFAULT_BEST_OF, 1, MAX_BEST_OF);
        double lengthPenalty = options.number(LENGTH_PENALTY, 1.0, 0.0, 4.0);
        ModelCard card = context.model().card();
        int[] prompt = context.prompt().clone();
        DecodeChecks.validatePrompt(prompt, card);
        int budget = DecodeLimits.budget(context, prompt.length);
        TokenOutput output = new TokenOutput(context, sink, prompt, budget); // the answer's row + the request's RNG

        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("best_of", bestOf);
        List<Double> scores = new ArrayList<>();
        Candidate best = null;
        int forwards = 0;
        for (int k = 0; k < bestOf; k++) {
            Candidate candidate = new Candidate(budget);
            boolean finished = decode(context, card, prompt, output, candidate);
            forwards += candidate.forwards;
            if (!finished) {
                // cancelled: the request is over, nothing is emitted (output.cancelled() set CANCELLED)
                stats.put("scores", scores);
                return output.result(forwards, stats);
            }
            double score = candidate.score(lengthPenalty);
            scores.add(score);
            if (best == null || score > best.score(lengthPenalty)) {
                best = candidate;
                stats.put("chosen", k);
            }
        }
        stats.put("scores", scores);
        stats.put("score", best.score(lengthPenalty));
        for (int i = 0; i < best.length; i++) {
            if (!output.commit(best.tokens[i], best.selection(i, card.vocabSize()))) {
                return output.result(forwards, stats); // the sink asked to stop (a stop string): STOP
            }
        }
        if (best.stopToken >= 0) {
            output.stopsAt(best.stopToken); // the winner ended with a stop token: STOP, the token not emitted
        }
        return output.result(forwards, stats);
    }

    /**
     * Decodes one candidate: forward, sample, record, until a stop token or the budget. False when the request was
     * cancelled meanwhile.
     */
    private static boolean decode(GenerationContext context, ModelCard card, int[] prompt, TokenOutput output,
                                  Candidate candidate) {
        Sampler sampler = DecodeChecks.sampler(context); // a fresh chain: processors may keep per-row state
        SamplingContext history = new SamplingContext(prompt, card.vocabSize(), output.random());
        try (KvCache cache = new KvCache(context.model())) {
            int[] feed = prompt; // prefill, then one token per step
            while (candidate.length < candidate.tokens.length) {
                if (output.cancelled()) {
                    return false;
                }
                float[] logits = DecodeChecks.checkedCopy(cache.appendLast(feed).last(0), card);
                candidate.forwards++;
                Selection s = sampler.sample(logits, history);
                DecodeChecks.checkToken(s.token(), card);
                candidate.sumLogProb += s.logProbability();
                if (context.isStopToken(s.token())) {
                    candidate.stopToken = s.token();
                    return true;
                }
                candidate.add(s);
                history.append(s.token());
                feed = new int[] {s.token()};
            }
        }
        return true;
    }

    /** One sampled continuation: its tokens and what the answer reports of each. */
    private static final class Candidate {
        final int[] tokens;
        final double[] logProbs;
        // kept instead of the selections themselves: a distribution is a whole vocabulary per token
        final TopTokens[] alternatives;
        int length;
        int stopToken = -1;
        double sumLogProb;
        int forwards;

        Candidate(int budget) {
            tokens = new int[budget];
            logProbs = new double[budget];
            alternatives = new TopTokens[budget];
        }

        void add(Selection s) {
            tokens[length] = s.token();
            logProbs[length] = s.logProbability();
            alternatives[length] = s.alternatives();
            length++;
        }

        /** sum log p / len^alpha over the generated tokens and the stop token (0 for an empty candidate). */
        double score(double alpha) {
            int len = length + (stopToken >= 0 ? 1 : 0);
            return len == 0 ? 0.0 : sumLogProb / Math.pow(len, alpha);
        }

        /**
         * The selection the sink gets for token i: choosing the winner is a deterministic pick, so its distribution
         * is one-hot (as beam search's); the log-probability and alternatives are those the token was sampled with.
         */
        Selection selection(int i, int vocabSize) {
            float[] oneHot = new float[vocabSize];
            oneHot[tokens[i]] = 1f;
            return new Selection(tokens[i], oneHot, logProbs[i], Math.exp(logProbs[i]), alternatives[i]);
        }

        @Override
        public String toString() {
            return Arrays.toString(Arrays.copyOf(tokens, length));
        }
    }
}
