package dev.arbor.generation.promptlookup;

import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.speculative.Draft;
import dev.arbor.speculative.DraftRequest;
import dev.arbor.speculative.Drafter;
import java.util.Arrays;

/**
 * N-gram drafting from the text itself (Saxena 2023, "Prompt Lookup Decoding",
 * github.com/apoorvumang/prompt-lookup-decoding; transformers' {@code PromptLookupCandidateGenerator}): for n from
 * {@code maxNgram} down to {@code minNgram}, take the last n tokens of the history (prompt + generated), find their
 * most recent earlier occurrence (one that is followed by at least one token, so not the suffix itself) and propose
 * the tokens that followed it, up to the requested count and up to the end of the history; the first n that
 * matches wins, so longer, more specific contexts are preferred. No match: an empty draft (the step is a plain
 * target step). The draft is a deterministic function of the history, so q is one-hot and the verification keeps
 * the target distribution exactly. (transformers takes the earliest occurrence; the most recent one follows the
 * text's latest use of the n-gram, which is what repetitive outputs such as code edits and summaries continue.)
 *
 * <p>Cost: O(history length * n) per step, no forward passes. A proposal is cut after the first stop token.
 */
public final class PromptLookupDrafter implements Drafter {
    private final int minNgram;
    private final int maxNgram;

    public PromptLookupDrafter(int minNgram, int maxNgram) {
        if (minNgram < 1 || maxNgram < minNgram) {
            throw new IllegalArgumentException("need 1 <= minNgram <= maxNgram, got " + minNgram + ", " + maxNgram);
        }
        this.minNgram = minNgram;
        this.maxNgram = maxNgram;
    }

    @Override
    public Draft propose(DraftRequest request) {
        int[] h = request.history().tokens();
        return Draft.deterministic(lookup(h, request.maxTokens(), request));
    }

    /** The tokens that followed the most recent earlier occurrence of the longest matching suffix n-gram. */
    int[] lookup(int[] h, int maxTokens, DraftRequest request) {
        int n = h.length;
        for (int size = Math.min(maxNgram, n - 1); size >= minNgram; size--) {
            int suffix = n - size;
            // candidate starts i with i + size <= n - 1 (followed by a token), most recent first
            for (int i = n - size - 1; i >= 0; i--) {
                if (matches(h, i, suffix, size)) {
                    int from = i + size;
                    int to = Math.min(n, from + maxTokens);
                    int[] out = Arrays.copyOfRange(h, from, to);
                    if (request != null) {
                        for (int j = 0; j < out.length; j++) {
                            if (request.isStopToken(out[j])) {
                                return Arrays.copyOf(out, j + 1);
                            }
                        }
                    }
                    return out;
                }
            }
        }
        return new int[0];
    }

    private static boolean matches(int[] h, int a, int b, int size) {
        for (int j = 0; j < size; j++) {
            if (h[a + j] != h[b + j]) {
                return false;
            }
        }
        return true;
    }

    /** For tests: the lookup on a plain history. */
    int[] lookup(SamplingContext history, int maxTokens) {
        return lookup(history.tokens(), maxTokens, null);
    }

    @Override
    public String describe() {
        return "prompt lookup (n-grams " + minNgram + ".." + maxNgram + ")";
    }
}
