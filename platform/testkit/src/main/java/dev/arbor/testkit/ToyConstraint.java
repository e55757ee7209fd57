package dev.arbor.testkit;

import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * A constraint processor ({@link Trait#CONSTRAINS_OUTPUT}) for the toy vocabularies of {@link EnumeratedJointBackend}
 * (symbols {@code 0..symbols-1}, then one end token): a deterministic finite automaton over the symbols, read from
 * the generated part of the history, with budget forcing. A symbol is allowed when the automaton has a transition
 * for it and an accepting state stays reachable within the tokens left ({@code maxLength} symbols in all); the end
 * token is allowed exactly in accepting states. Everything else gets {@code -inf}, so every output that ends with the
 * end token, or uses up {@code maxLength}, is in the language; after the end token only the end token is allowed
 * (a drafter may expand past it). Stateless between calls (a pure function of logits
 * and history), hence safe on draft rows, rolled-back rows and beams.
 */
public final class ToyConstraint implements LogitsProcessor {
    private static final int DEAD = -1;
    /** After the end token: only the end token again (drafters may look past an end, as padded rows do). */
    private static final int ENDED = -2;
    private final int symbols;
    private final int[][] next;
    private final boolean[] accepting;
    private final int maxLength;
    /** Fewest symbols from each state to an accepting one ({@code Integer.MAX_VALUE}: none). */
    private final int[] distance;

    /**
     * @param next      {@code next[state][symbol]}, {@code -1} for no transition; state 0 is the start
     * @param accepting which states accept
     * @param maxLength the most symbols an output may have (the budget)
     */
    public ToyConstraint(int symbols, int[][] next, boolean[] accepting, int maxLength) {
        this.symbols = symbols;
        this.next = next;
        this.accepting = accepting.clone();
        this.maxLength = maxLength;
        this.distance = new int[next.length];
        Arrays.fill(distance, Integer.MAX_VALUE);
        for (int s = 0; s < next.length; s++) {
            if (accepting[s]) {
                distance[s] = 0;
            }
        }
        for (boolean changed = true; changed; ) {
            changed = false;
            for (int s = 0; s < next.length; s++) {
                for (int t : next[s]) {
                    if (t != DEAD && distance[t] != Integer.MAX_VALUE && distance[t] + 1 < distance[s]) {
                        distance[s] = distance[t] + 1;
                        changed = true;
                    }
                }
            }
        }
    }

    /**
     * Over symbols {0, 1, 2}: non-empty, no two 0s in a row, not ending in 2 (the regular expression
     * {@code (?!.*00)[012]*[01]}).
     */
    public static ToyConstraint noDoubleZeroNoTrailingTwo(int maxLength) {
        // states: 0 start, 1 after 0, 2 after 1, 3 after 2
        int[][] next = {{1, 2, 3}, {DEAD, 2, 3}, {1, 2, 3}, {1, 2, 3}};
        return new ToyConstraint(3, next, new boolean[] {false, true, true, false}, maxLength);
    }

    /** Exactly the given words (a trie), each a sequence of symbols. */
    public static ToyConstraint words(int symbols, int maxLength, int[]... words) {
        List<int[]> trie = new ArrayList<>();
        List<Boolean> ends = new ArrayList<>();
        trie.add(filled(symbols));
        ends.add(false);
        for (int[] word : words) {
            int s = 0;
            for (int symbol : word) {
                if (trie.get(s)[symbol] == DEAD) {
                    trie.add(filled(symbols));
                    ends.add(false);
                    trie.get(s)[symbol] = trie.size() - 1;
                }
                s = trie.get(s)[symbol];
            }
            ends.set(s, true);
        }
        boolean[] accepting = new boolean[ends.size()];
        for (int i = 0; i < accepting.length; i++) {
            accepting[i] = ends.get(i);
        }
        return new ToyConstraint(symbols, trie.toArray(new int[0][]), accepting, maxLength);
    }

    private static int[] filled(int symbols) {
        int[] row = new int[symbols];
        Arrays.fill(row, DEAD);
        return row;
    }

    /** Whether {@code output} (symbols, without the end token) is in the language and within the budget. */
    public boolean accepts(int[] output) {
        int s = run(output, output.length);
        return s >= 0 && accepting[s] && output.length <= maxLength;
    }

    /** Whether {@code tokens} (generated so far, an end token included) could still be, or be, an allowed output. */
    public boolean allowsPrefix(int[] tokens) {
        return run(tokens, tokens.length) != DEAD;
    }

    private int run(int[] tokens, int length) {
        int s = 0;
        for (int i = 0; i < length && s != DEAD && s != ENDED; i++) {
            if (tokens[i] == symbols) {
                s = accepting[s] ? ENDED : DEAD;
            } else {
                s = tokens[i] >= 0 && tokens[i] < symbols ? next[s][tokens[i]] : DEAD;
            }
        }
        return s;
    }

    @Override
    public void process(float[] logits, SamplingContext context) {
        int[] generated = context.generated();
        int state = run(generated, generated.length);
        int left = maxLength - generated.length;
        for (int v = 0; v < logits.length; v++) {
            boolean allowed;
            if (state == DEAD) {
                allowed = false;
            } else if (state == ENDED) {
                allowed = v == symbols;
            } else if (v < symbols) {
                int t = next[state][v];
                allowed = t != DEAD && left >= 1 && distance[t] <= left - 1;
            } else {
                allowed = v == symbols && accepting[state];
            }
            if (!allowed) {
                logits[v] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    @Override
    public Set<Trait> traits() {
        return Set.of(Trait.CONSTRAINS_OUTPUT, Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE, Trait.BATCH_SAFE);
    }

    @Override
    public String toString() {
        return "toy-constraint";
    }
}
