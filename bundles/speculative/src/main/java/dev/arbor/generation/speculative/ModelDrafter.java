package dev.arbor.generation.speculative;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.KvCache;
import dev.arbor.speculative.Draft;
import dev.arbor.speculative.DraftRequest;
import dev.arbor.speculative.Drafter;
import java.util.Arrays;

/**
 * Drafts with a small causal model that shares the target's vocabulary, autoregressively, with its own KV state
 * (Leviathan et al. 2023, section 3: the approximation model M_q run gamma times).
 *
 * <p>Per drafted position: one forward of the committed tokens the draft state does not hold yet (the whole prompt
 * the first time, then the one or two tokens the last verification decided) or of the token drafted just before;
 * the logits go through the request's chain (processors with the history holding exactly the tokens before this
 * position, then the selector, which draws the token from q with the request RNG) and q is the selection's
 * distribution, copied. Drafting stops after {@code maxTokens} tokens, after a stop token, or when the draft
 * model's context is full.
 *
 * <p>Rollback: the drafter keeps the ids its state holds; at each call it keeps the longest prefix of them that
 * agrees with the committed history (but never all of it, since it needs one forward to get fresh logits) and
 * truncates the state to it, so rejected drafts leave the cache exactly as if they had never been fed.
 */
final class ModelDrafter implements Drafter {
    private final ModelBackend draft;
    private final String description;
    private KvCache cache;
    private int forwards;

    ModelDrafter(ModelBackend draft, String description) {
        this.draft = draft;
        this.description = description;
    }

    @Override
    public Draft propose(DraftRequest request) {
        SamplingContext history = request.history();
        ModelCard card = draft.card();
        int n = history.length();
        int room = card.maxPositions() - n + 1; // the last drafted token is never fed
        int max = Math.min(request.maxTokens(), room);
        if (max < 1) {
            return Draft.EMPTY;
        }
        if (cache == null) {
            cache = new KvCache(draft);
        }
        int[] feed = cache.pending(history);
        int[] tokens = new int[max];
        float[][] q = new float[max][];
        int count = 0;
        while (true) {
            float[] logits = cache.appendLast(feed).last(0);
            forwards++;
            if (logits == null || logits.length != card.vocabSize()) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, description + " returned "
                        + (logits == null ? "no logits" : logits.length + " logits") + " for a row, but its card "
                        + "says " + card.vocabSize());
            }
            Selection s = request.sampler().sample(logits.clone(), history);
            float[] distribution = s.distribution();
            if (distribution == null || distribution.length != card.vocabSize()) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector returned no "
                        + "distribution over the " + card.vocabSize() + " ids; speculative sampling needs q");
            }
            tokens[count] = s.token();
            q[count] = distribution.clone(); // the selector may reuse its buffer
            count++;
            history.append(s.token());
            if (count == max || request.isStopToken(s.token())) {
                break;
            }
            feed = new int[] {s.token()};
        }
        return new Draft(Arrays.copyOf(tokens, count), Arrays.copyOf(q, count));
    }

    @Override
    public int forwardPasses() {
        return forwards;
    }

    @Override
    public String describe() {
        return description;
    }

    @Override
    public void close() {
        if (cache != null) {
            cache.close();
            cache = null;
        }
    }
}
