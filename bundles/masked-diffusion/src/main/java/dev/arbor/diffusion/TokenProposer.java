package dev.arbor.diffusion;

import dev.arbor.api.ArborException;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * Turns the logits of one position into a {@link Proposal} with the pipeline's own sampling: the MASK logit is set
 * to {@code -inf} (a position is never "decoded" to MASK, as dInfer's {@code rm_mask}), the processor chain runs
 * (temperature, top-k, top-p, ...), the chain's selector draws the token from the request RNG (greedy under
 * temperature 0; otherwise a categorical draw, which is what the Gumbel-max trick of LLaDA-family code computes, in
 * double precision as METHODS.md §2.1 asks), and the {@link ConfidenceMetric} scores it on the processed
 * distribution (Dream's convention; LLaDA scores the unprocessed softmax, which is the same at temperature 1 and
 * without truncation).
 *
 * <p>History-dependent processors (penalties) see the prompt followed by the committed tokens in the order they were
 * committed, which for a diffusion decoder is not left to right. Not thread-safe (one per request).
 */
public final class TokenProposer {
    /**
     * Why a diffusion decoder cannot honour processors with {@code traits}, or null: for every generator built on
     * this proposer ({@code Generator.incompatibility}). A watermark seeded by the preceding tokens (WATERMARK and
     * HISTORY_DEPENDENT) would be seeded by whatever was committed last instead of each token's left neighbour, so
     * its detector could not find it: serving such a pipeline would silently strip the watermark.
     */
    public static String processorRefusal(Set<Trait> traits) {
        if (traits.contains(Trait.WATERMARK) && traits.contains(Trait.HISTORY_DEPENDENT)) {
            return "a diffusion decoder commits tokens out of order, so a watermark seeded by the preceding tokens "
                    + "would not be seeded by each token's left neighbour and could not be detected; use an "
                    + "autoregressive generator, or a context-free watermark (watermark-lbw)";
        }
        return null;
    }

    private final Sampler sampler;
    private final SamplingContext history;
    private final ConfidenceMetric metric;
    private final int mask;
    private final int vocab;

    public TokenProposer(GenerationContext context, DiffusionModel model, ConfidenceMetric metric) {
        Sampler chain = context.samplers().get();
        if (chain == null) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE,
                    "the pipeline's sampler supplier returned null");
        }
        this.sampler = chain;
        this.vocab = model.card().vocabSize();
        this.history = SamplingContext.seeded(context.prompt(), vocab, context.seed());
        this.metric = metric;
        this.mask = model.maskTokenId();
    }

    /** Proposes a token for {@code position} from its logit row (copied; the row is not changed). */
    public Proposal propose(int position, float[] logits) {
        float[] processed = logits.clone();
        processed[mask] = Float.NEGATIVE_INFINITY;
        sampler.process(processed, history);
        double[] p = softmax(processed);
        if (p == null) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the processor chain removed every token "
                    + "at position " + position + " (all logits -inf or NaN after processing)");
        }
        Selection selection = sampler.selector().select(processed, history);
        int token = selection.token();
        if (token < 0 || token >= vocab || token == mask) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector chose id " + token
                    + " for position " + position + "; it must be in [0, " + vocab + ") and not the MASK id " + mask);
        }
        return new Proposal(position, token, metric.score(p, token), p[token], selection);
    }

    /**
     * dInfer's {@code rm_mask} form of {@link #propose} ({@code get_transfer_index_threshold}, METHODS.md §3.5): the
     * MASK logit is kept, the processor chain and the selector run over the whole vocabulary, and when the draw is
     * MASK the position abstains in this forward (null: the caller leaves it masked). Otherwise the proposal is
     * scored on the processed distribution with MASK's share of the mass in it, as dInfer's {@code softmax(logits)}
     * is. The law of a non-null draw is {@link #propose}'s (the distribution without MASK, renormalised).
     *
     * @since 1.2
     */
    public Proposal proposeUnlessMask(int position, float[] logits) {
        float[] processed = logits.clone();
        sampler.process(processed, history);
        double[] p = softmax(processed);
        if (p == null) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the processor chain removed every token "
                    + "at position " + position + " (all logits -inf or NaN after processing)");
        }
        Selection selection = sampler.selector().select(processed, history);
        int token = selection.token();
        if (token == mask) {
            return null;
        }
        if (token < 0 || token >= vocab) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector chose id " + token
                    + " for position " + position + "; it must be in [0, " + vocab + ")");
        }
        return new Proposal(position, token, metric.score(p, token), p[token], selection);
    }

    /** Records a committed token in the history the processors see. */
    public void committed(int token) {
        history.append(token);
    }

    /** The request RNG (shared with the selector). */
    public RandomGenerator random() {
        return history.random();
    }

    /** Softmax in double, or null when every logit is -inf. */
    static double[] softmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        if (max == Double.NEGATIVE_INFINITY || Double.isNaN(max)) {
            return null;
        }
        double[] p = new double[logits.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) {
            p[i] /= sum;
        }
        return p;
    }
}
