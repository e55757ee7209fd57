package dev.arbor.processor.structured.internal;

import dev.arbor.api.ArborException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A grammar bound to a vocabulary: computes the allowed-token mask of a recognizer state by walking the vocabulary
 * trie (the approach of llama.cpp and outlines' token-level masks; the trie walk with pruning is XGrammar's,
 * Dong et al. 2024, "XGrammar: Flexible and Efficient Structured Generation Engine for Large Language Models"), and
 * caches masks per state (bounded LRU). Shared by all requests with the same constraint and tokenizer; thread-safe.
 */
final class Constraint {
    /** Default bound on one constraint's cached masks. */
    static final int MAX_MASKS = 4096;
    static final long MAX_MASK_BYTES = 16L << 20;

    final Grammar grammar;
    final Recognizer recognizer;
    final Vocabulary vocabulary;
    private final LruCache<State, Mask> masks;

    Constraint(Grammar grammar, Vocabulary vocabulary) {
        this(grammar, vocabulary, MAX_MASKS, MAX_MASK_BYTES);
    }

    Constraint(Grammar grammar, Vocabulary vocabulary, int maxMasks, long maxMaskBytes) {
        this.grammar = grammar;
        this.recognizer = new Recognizer(grammar);
        this.vocabulary = vocabulary;
        this.masks = new LruCache<>(maxMasks, maxMaskBytes, Mask::weight);
    }

    State initial() {
        return recognizer.initial();
    }

    /** The mask of {@code state}, from the cache or computed. */
    Mask mask(State state) {
        return masks.computeIfAbsent(state, this::computeMask);
    }

    LruCache<State, Mask> cache() {
        return masks;
    }

    /**
     * The state after {@code token}; null when the grammar rejects it. Tokens that append no bytes leave the state
     * as it is, except the end-of-sequence token where the grammar does not accept.
     */
    State advance(State state, int token) {
        if (token < 0 || token >= vocabulary.size) {
            return null;
        }
        if (token == vocabulary.eos) {
            return state.accepts ? state : null;
        }
        byte[] b = vocabulary.bytes[token];
        if (b.length == 0) {
            return state;
        }
        State next = recognizer.advance(state, b);
        return next.isDead() ? null : next;
    }

    /** The allowed tokens of {@code state}: a walk of the vocabulary trie, pruned where the grammar rejects. */
    Mask computeMask(State state) {
        Vocabulary v = vocabulary;
        long[] allowed = new long[(v.size + 63) >>> 6];
        int[] dist = new int[v.size];
        walk(0, List.of(state.stacks), allowed, dist, new HashMap<>());
        if (state.accepts) {
            allowed[v.eos >>> 6] |= 1L << (v.eos & 63);
            dist[v.eos] = 0;
        }
        int count = 0;
        for (long w : allowed) {
            count += Long.bitCount(w);
        }
        char[] byRank = new char[count];
        int min = Integer.MAX_VALUE;
        int max = 0;
        int rank = 0;
        for (int w = 0; w < allowed.length; w++) {
            long bits = allowed[w];
            while (bits != 0) {
                int id = (w << 6) + Long.numberOfTrailingZeros(bits);
                bits &= bits - 1;
                int d = Math.min(dist[id], Character.MAX_VALUE);
                byRank[rank++] = (char) d;
                min = Math.min(min, d);
                max = Math.max(max, d);
            }
        }
        return new Mask(allowed, byRank, count, count == 0 ? 0 : min, max);
    }

    /**
     * Visits the children of trie node {@code node}, reached with the parse paths {@code paths}. {@code memo} maps
     * each path to its successors for the whole walk: inside free text most bytes lead to equal paths, so each
     * distinct path is expanded once, and equal paths become the same objects (equality then stops at identity).
     */
    private void walk(int node, List<Stack> paths, long[] allowed, int[] dist, Map<Stack, List<Stack>> memo) {
        Vocabulary v = vocabulary;
        int n = paths.size();
        List<Stack>[] successors = null;
        for (int child = v.firstChild[node]; child >= 0; child = v.nextSibling[child]) {
            int b = v.edge[child] & 0xFF;
            List<Stack> next = null;
            boolean merged = false;
            for (int i = 0; i < n; i++) {
                Stack s = paths.get(i);
                if (s == Stack.ACCEPT || !grammar.matches(s.pos, b)) {
                    continue;
                }
                if (successors == null) {
                    @SuppressWarnings("unchecked")
                    List<Stack>[] fresh = new List[n];
                    successors = fresh;
                }
                if (successors[i] == null) {
                    successors[i] = memo.computeIfAbsent(s, recognizer::successors);
                }
                if (next == null) {
                    next = successors[i];
                } else {
                    if (!merged) {
                        next = new ArrayList<>(next);
                        merged = true;
                    }
                    next.addAll(successors[i]);
                }
            }
            if (next == null) {
                continue; // prune: no token under this byte can continue the output
            }
            if (merged) {
                next = Recognizer.dedupe(next);
            }
            if (v.tokenEnd[child] > 0) {
                int d = Integer.MAX_VALUE;
                for (Stack s : next) {
                    d = Math.min(d, s.dist);
                }
                for (int k = v.tokenStart[child]; k < v.tokenEnd[child]; k++) {
                    int id = v.sortedIds[k];
                    allowed[id >>> 6] |= 1L << (id & 63);
                    dist[id] = d;
                }
            }
            if (v.firstChild[child] >= 0) {
                walk(child, next, allowed, dist, memo);
            }
        }
    }

    /**
     * Refuses, at creation, a budget no output can fit: the grammar's shortest sentence needs more bytes than
     * {@code maxTokens} tokens of at most {@link Vocabulary#maxTokenBytes} bytes each can append. (A budget above
     * that bound may still be too small for a particular vocabulary; budget forcing then keeps to the shortest
     * completions it can.)
     */
    void checkBudget(int maxTokens, String what) {
        long capacity = (long) maxTokens * vocabulary.maxTokenBytes;
        if (grammar.minLength() > capacity) {
            throw ArborException.invalid("structured-output: the shortest output the " + what + " allows is "
                    + grammar.minLength() + " bytes, more than max_tokens=" + maxTokens + " tokens can hold (the"
                    + " longest token of this vocabulary appends " + vocabulary.maxTokenBytes + " bytes); raise"
                    + " max_tokens");
        }
    }
}
