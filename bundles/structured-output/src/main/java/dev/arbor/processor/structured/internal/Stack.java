package dev.arbor.processor.structured.internal;

/**
 * One parse path of the recognizer: an immutable linked stack of grammar positions whose top is the
 * {@link Grammar#TERMINAL} the next byte must match and whose lower entries are where each enclosing rule continues
 * (llama.cpp's grammar stacks). Paths share their tails. Equality is structural, with the hash and the distance to
 * acceptance computed once at construction.
 */
final class Stack {
    /** The empty stack: the input read so far is a sentence. */
    static final Stack ACCEPT = new Stack(-1, null, 0, 0);

    final int pos;
    final Stack next;
    final int hash;
    /** The fewest bytes that complete this path to acceptance. */
    final int dist;

    private Stack(int pos, Stack next, int hash, int dist) {
        this.pos = pos;
        this.next = next;
        this.hash = hash;
        this.dist = dist;
    }

    static Stack push(Grammar grammar, int pos, Stack next) {
        int rest = next == null ? 0 : next.dist;
        int dist = (int) Math.min((long) grammar.suffixMin[pos] + rest, Integer.MAX_VALUE / 2);
        int hash = 31 * (next == null ? 17 : next.hash) + pos;
        return new Stack(pos, next, hash * 0x9E3779B1, dist);
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
        Stack a = this;
        Stack b = o instanceof Stack s ? s : null;
        while (a != null && b != null) {
            if (a == b) {
                return true;
            }
            if (a.pos != b.pos || a.hash != b.hash) {
                return false;
            }
            a = a.next;
            b = b.next;
        }
        return a == b;
    }
}
