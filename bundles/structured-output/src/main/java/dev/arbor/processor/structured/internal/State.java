package dev.arbor.processor.structured.internal;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The recognizer's state after some bytes: the set of live parse paths ({@link Stack}s), immutable and hashable so
 * that it keys the mask cache. Empty means the bytes read are not a prefix of any sentence.
 */
final class State {
    final Stack[] stacks;
    private final int hash;
    final boolean accepts;
    /** The fewest bytes that complete some path to acceptance (0 when it accepts). */
    final int dist;

    State(List<Stack> paths) {
        this.stacks = paths.toArray(new Stack[0]);
        int h = 0;
        boolean acc = false;
        int d = Integer.MAX_VALUE;
        for (Stack s : stacks) {
            h += s.hash; // order-independent: a set
            acc |= s == Stack.ACCEPT;
            d = Math.min(d, s.dist);
        }
        this.hash = h;
        this.accepts = acc;
        this.dist = d;
    }

    boolean isDead() {
        return stacks.length == 0;
    }

    /** Whether the input read so far is a sentence and no byte can follow it. */
    boolean isFinal() {
        return accepts && stacks.length == 1;
    }

    @Override
    public int hashCode() {
        return hash;
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof State other) || other.hash != hash || other.stacks.length != stacks.length) {
            return false;
        }
        if (Arrays.equals(stacks, other.stacks)) {
            return true;
        }
        Set<Stack> mine = new HashSet<>(Arrays.asList(stacks));
        return mine.containsAll(Arrays.asList(other.stacks));
    }
}
