package dev.arbor.generation.guideddiffusion;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.autoregressive.KvCache;
import dev.arbor.diffusion.Canvas;
import java.util.random.RandomGenerator;

/**
 * The autoregressive guide of FlashDLM's guided diffusion (Hu et al. 2025, arXiv:2505.21467;
 * {@code flash-dlm-experimental guided_diffusion/diff_spec_utils_assisted.py ARAssistant.batch_verify}; METHODS.md
 * §3.9): a small causal LM that reads the committed prefix and the diffusion model's left-to-right drafts in one
 * forward and says how many leading drafts it accepts. Its KV cache always holds the committed prefix except its last
 * token (which is fed again with the drafts, so its row predicts the first draft); after a step it is cropped back to
 * the new committed prefix, so cached guide logits equal a fresh forward over the same tokens.
 *
 * <p>Drafts are fed in chunks of {@code verify_batch_size}, as the reference's {@code batch_verify}: the first chunk
 * is the last committed token (with any committed tokens the cache lacks) and the first {@code batch - 1} drafts,
 * whose rows predict the first {@code batch} drafts; each further chunk is fed only while every draft of the previous
 * one was accepted, and starts with the last draft of the previous chunk. One guide forward per chunk.
 *
 * <p>Token ids are shared with the diffusion model (one tokenizer); a draft id outside the guide's vocabulary is
 * rejected. Acceptance rules, on the softmax of the guide's raw logits, stopping at the first rejection:
 * {@link Strategy#DETERMINISTIC} (the guide's argmax equals the draft: with it every non-forced token is the guide's
 * greedy choice), {@link Strategy#TOP_K} (the draft is among the guide's {@code acceptance_top_k} best),
 * {@link Strategy#THRESHOLD} (the guide's probability of the draft exceeds {@code confidence_threshold}) and
 * {@link Strategy#ORIGINAL} (accepted with probability p_guide(draft): a uniform draw from the request RNG below it).
 * At a rejection the reference's {@code _verify_*} also return a replacement token (the guide's argmax, or for
 * {@code original} and {@code dynamic_threshold} a draw from p_guide without the draft), but
 * {@code assisted_block_diffusion_generate} never writes it: it commits the accepted drafts, or the first DLM draft
 * when none was accepted. So no replacement is drawn here; the committed tokens have the reference's law. Not
 * thread-safe (one per request).
 */
final class GuideVerifier implements AutoCloseable {

    /** How a draft is judged against the guide's distribution at its position. */
    enum Strategy {
        DETERMINISTIC, TOP_K, THRESHOLD, ORIGINAL;

        static Strategy named(String name) {
            return switch (name) {
                case "deterministic" -> DETERMINISTIC;
                case "topk" -> TOP_K;
                case "dynamic_threshold" -> THRESHOLD;
                case "original" -> ORIGINAL;
                default -> throw ArborException.invalid("option 'strategy' must be deterministic (the guide's "
                        + "argmax), topk (among the guide's acceptance_top_k best), dynamic_threshold (guide "
                        + "probability above confidence_threshold) or original (accepted with the guide's "
                        + "probability), got '" + name + "'");
            };
        }
    }

    private final ModelBackend guide;
    private final Strategy strategy;
    private final int topK;
    private final double threshold;
    private final int batch;
    private final RandomGenerator random;
    private final KvCache cache;
    private int forwardPasses;
    private int draftsScored;

    /**
     * @param batch  drafts per guide forward ({@code verify_batch_size})
     * @param random the request RNG ({@link Strategy#ORIGINAL}'s uniform draws)
     */
    GuideVerifier(ModelBackend guide, Strategy strategy, int topK, double threshold, int batch,
                  RandomGenerator random) {
        this.guide = guide;
        this.strategy = strategy;
        this.topK = topK;
        this.threshold = threshold;
        this.batch = batch;
        this.random = random;
        this.cache = new KvCache(guide);
    }

    /**
     * Refuses a guide that cannot verify left-to-right drafts: not a causal NEXT-aligned LM, no KV truncation, or a
     * vocabulary that cannot hold the prompt.
     */
    static void check(ModelCard guide, ModelCard dlm, String generator, int[] prompt) {
        if (guide.nativeAttention() != NativeAttention.CAUSAL || guide.alignment() != LogitAlignment.NEXT) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "generator '" + generator + "' needs an "
                    + "autoregressive guide (causal attention, each row predicting the next token), but guide '"
                    + guide.name() + "' is " + guide.nativeAttention() + " with " + guide.alignment()
                    + " alignment; give a causal LM as option 'guide'");
        }
        if (!guide.supports(Capability.STATE_TRUNCATE)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "guide '" + guide.name() + "' runs on a "
                    + "backend without DecodeState.truncate (Capability.STATE_TRUNCATE), which cropping its KV "
                    + "cache to the committed prefix after each step needs");
        }
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] >= guide.vocabSize()) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "prompt token " + i + " has id "
                        + prompt[i] + ", outside guide '" + guide.name() + "''s vocabulary of " + guide.vocabSize()
                        + " ids; the guide must share the tokenizer of model '" + dlm.name() + "'");
            }
        }
    }

    /** Guide forwards so far. */
    int forwardPasses() {
        return forwardPasses;
    }

    /** Drafts the guide has scored so far (every draft of every chunk fed). */
    int draftsScored() {
        return draftsScored;
    }

    /**
     * How many leading {@code drafts} (for positions {@code first, first+1, ...}) the guide accepts, given the
     * committed canvas before {@code first}, verifying chunk after chunk while every draft of a chunk is accepted.
     * Leaves the guide's cache holding at least {@code [0, first)}; call {@link #committed} after committing.
     */
    int verify(Canvas canvas, int first, int[] drafts) {
        int synced = cache.length();
        if (synced > first - 1) {
            throw new IllegalStateException("guide cache holds " + synced + " positions, past the committed prefix");
        }
        int n = drafts.length;
        int accepted = 0;
        for (int from = 0; from < n; from += batch) {
            int to = Math.min(n, from + batch);
            int[] feed;
            int[] rows = new int[to - from];
            if (from == 0) {
                // The committed tokens the cache lacks (at least the last one), then the chunk's drafts but its last:
                // the rows of positions first-1 .. first+to-2 predict drafts 0 .. to-1.
                feed = new int[first - synced + to - 1];
                for (int p = synced; p < first; p++) {
                    feed[p - synced] = canvas.token(p);
                }
                System.arraycopy(drafts, 0, feed, first - synced, to - 1);
                for (int j = 0; j < rows.length; j++) {
                    rows[j] = first - 1 - synced + j;
                }
            } else {
                // The cache now ends with draft from-2; feeding drafts from-1 .. to-2 predicts drafts from .. to-1.
                feed = java.util.Arrays.copyOfRange(drafts, from - 1, to - 1);
                for (int j = 0; j < rows.length; j++) {
                    rows[j] = j;
                }
            }
            float[][] logits = cache.append(feed, rows).logits()[0];
            forwardPasses++;
            if (logits == null || logits.length != rows.length) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "guide '" + guide.card().name()
                        + "' returned " + (logits == null ? "no" : logits.length) + " logit rows, expected "
                        + rows.length);
            }
            draftsScored += rows.length;
            for (int j = 0; j < rows.length; j++) {
                if (!accepts(logits[j], drafts[from + j])) {
                    return accepted;
                }
                accepted++;
            }
        }
        return accepted;
    }

    /** Crops the guide's cache after the committed prefix grew to {@code committedEnd}. */
    void committed(int committedEnd) {
        cache.rollback(committedEnd - 1);
    }

    private boolean accepts(float[] row, int draft) {
        if (draft < 0 || draft >= row.length) {
            return false;
        }
        return switch (strategy) {
            case DETERMINISTIC -> argmax(row) == draft;
            case TOP_K -> {
                int better = 0;
                for (float v : row) {
                    better += v > row[draft] ? 1 : 0;
                }
                yield better < topK;
            }
            case THRESHOLD -> probability(row, draft) > threshold;
            case ORIGINAL -> random.nextDouble() < probability(row, draft);
        };
    }

    /** First maximum, as greedy decoding breaks ties. */
    static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }

    private static double probability(float[] row, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : row) {
            max = Math.max(max, v);
        }
        if (max == Double.NEGATIVE_INFINITY) {
            return 0;
        }
        double sum = 0;
        for (float v : row) {
            sum += Math.exp(v - max);
        }
        return Math.exp(row[token] - max) / sum;
    }

    @Override
    public void close() {
        cache.close();
    }
}
