package dev.arbor.processor.structured.internal;

/**
 * A compiled byte-level context-free grammar in the flat form of llama.cpp's grammar engine: every rule is a list of
 * alternatives, every alternative a run of positions in one array ending with an {@link #END} position, and every
 * position either one byte out of a set ({@link #TERMINAL}) or a reference to a rule ({@link #RULE}). Repetition,
 * nested alternatives and character classes have been lowered into auxiliary rules and byte sets by
 * {@link GrammarCompiler}, which also refused left recursion and rules that never end. Immutable.
 */
final class Grammar {
    static final byte TERMINAL = 0;
    static final byte RULE = 1;
    static final byte END = 2;

    final byte[] kind;
    /** For RULE positions: the rule's index. */
    final int[] ref;
    /** For TERMINAL positions: the byte set, four longs per position. */
    final long[] bits;
    /** Per rule: the first position of each alternative. */
    final int[][] alternatives;
    final String[] names;
    final int root;
    /** Per position: the fewest bytes that complete the alternative from here (its END is 0). */
    final int[] suffixMin;
    /** Per rule: the fewest bytes of a sentence it derives. */
    final int[] ruleMin;
    /**
     * Whether a rule can reach itself as its own last element without consuming a byte (x* where x can be empty):
     * the recognizer then skips positions it already expanded in the same step.
     */
    final boolean tailCycles;

    Grammar(byte[] kind, int[] ref, long[] bits, int[][] alternatives, String[] names, int root, int[] suffixMin,
            int[] ruleMin, boolean tailCycles) {
        this.kind = kind;
        this.ref = ref;
        this.bits = bits;
        this.alternatives = alternatives;
        this.names = names;
        this.root = root;
        this.suffixMin = suffixMin;
        this.ruleMin = ruleMin;
        this.tailCycles = tailCycles;
    }

    boolean matches(int position, int b) {
        return (bits[(position << 2) + (b >>> 6)] & (1L << (b & 63))) != 0;
    }

    /** The fewest bytes of any sentence of the grammar. */
    int minLength() {
        return ruleMin[root];
    }

    int positions() {
        return kind.length;
    }
}
