package dev.arbor.generation.guideddiffusion;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.autoregressive.KvCache;
import dev.arbor.diffusion.Canvas;

/**
 * The autoregressive guide of FlashDLM's guided diffusion (Hu et al. 2025, arXiv:2505.21467;
 * {@code flash-dlm-experimental guided_diffusion/diff_spec_utils_assisted.py ARAssistant.batch_verify}; METHODS.md
 * §3.9): a small causal LM that reads the committed prefix and the diffusion model's left-to-right drafts in one
 * forward and says how many leading drafts it accepts. Its KV cache always holds the committed prefix except its last
 * token (which is fed again with the drafts, so its row predicts the first draft); after a step it is cropped back to
 * the new committed prefix, so cached guide logits equal a fresh forward over the same tokens.
 *
 * <p>Token ids are shared with the diffusion model (one tokenizer); a draft id outside the guide's vocabulary is
 * rejected. Acceptance rules: {@link Strategy#DETERMINISTIC} (the guide's argmax equals the draft: with it every
 * non-forced token is the guide's greedy choice), {@link Strategy#TOP_K} (the draft is among the guide's
 * {@code acceptance_top_k} best) and {@link Strategy#THRESHOLD} (the guide's probability of the draft exceeds
 * {@code confidence_threshold}), on the guide's raw logits. Not thread-safe (one per request).
 */
final class GuideVerifier implements AutoCloseable {

    /** How a draft is judged against the guide's distribution at its position. */
    enum Strategy {
        DETERMINISTIC, TOP_K, THRESHOLD;

        static Strategy named(String name) {
            return switch (name) {
                case "deterministic" -> DETERMINISTIC;
                case "topk" -> TOP_K;
                case "dynamic_threshold" -> THRESHOLD;
                default -> throw ArborException.invalid("option 'strategy' must be deterministic (the guide's "
                        + "argmax), topk (among the guide's acceptance_top_k best) or dynamic_threshold (guide "
                        + "probability above confidence_threshold), got '" + name + "'");
            };
        }
    }

    private final ModelBackend guide;
    private final Strategy strategy;
    private final int topK;
    private final double threshold;
    private final KvCache cache;
    private int forwardPasses;

    GuideVerifier(ModelBackend guide, Strategy strategy, int topK, double threshold) {
        this.guide = guide;
        this.strategy = strategy;
        this.topK = topK;
        this.threshold = threshold;
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

    /**
     * How many leading {@code drafts} (for positions {@code first, first+1, ...}) the guide accepts, given the
     * committed canvas before {@code first}. Leaves the guide's cache holding at least {@code [0, first)}; call
     * {@link #committed} after committing.
     */
    int verify(Canvas canvas, int first, int[] drafts) {
        int synced = cache.length();
        if (synced > first - 1) {
            throw new IllegalStateException("guide cache holds " + synced + " positions, past the committed prefix");
        }
        // Feed the committed tokens the cache lacks (at least the last one), then every draft but the last: the rows
        // of positions first-1 .. first+n-2 predict the n drafts.
        int n = drafts.length;
        int[] feed = new int[first - synced + n - 1];
        for (int p = synced; p < first; p++) {
            feed[p - synced] = canvas.token(p);
        }
        System.arraycopy(drafts, 0, feed, first - synced, n - 1);
        int[] rows = new int[n];
        for (int j = 0; j < n; j++) {
            rows[j] = first - 1 - synced + j;
        }
        float[][] logits = cache.append(feed, rows).logits()[0];
        forwardPasses++;
        if (logits == null || logits.length != n) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "guide '" + guide.card().name()
                    + "' returned " + (logits == null ? "no" : logits.length) + " logit rows, expected " + n);
        }
        int accepted = 0;
        while (accepted < n && accepts(logits[accepted], drafts[accepted])) {
            accepted++;
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
