package dev.arbor.processor.structured.internal;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

/**
 * A byte-level pushdown recognizer over a {@link Grammar}, the stack-set construction of llama.cpp's
 * {@code llama_grammar_accept}: a state is the set of parse paths whose tops are terminals; a byte advances every
 * path whose top matches it, and the advanced positions are expanded again until every path's top is a terminal (or
 * the path is complete). A reference at the end of an alternative is a tail call (no continuation is pushed), so
 * right recursion and repetition do not grow the stacks. Left recursion was refused by {@link GrammarCompiler}, so
 * expansion ends.
 */
final class Recognizer {
    final Grammar grammar;
    private final State initial;

    Recognizer(Grammar grammar) {
        this.grammar = grammar;
        List<Stack> out = new ArrayList<>();
        for (int start : grammar.alternatives[grammar.root]) {
            expand(start, null, out);
        }
        this.initial = new State(dedupe(out));
    }

    State initial() {
        return initial;
    }

    /** The state after {@code bytes}; dead (empty) when they leave the language. */
    State advance(State state, byte[] bytes) {
        List<Stack> paths = List.of(state.stacks);
        for (byte b : bytes) {
            paths = advance(paths, b & 0xFF);
            if (paths.isEmpty()) {
                break;
            }
        }
        return new State(paths);
    }

    /** The paths after one byte, without duplicates. */
    List<Stack> advance(List<Stack> paths, int b) {
        List<Stack> out = new ArrayList<>();
        for (Stack s : paths) {
            if (s != Stack.ACCEPT && grammar.matches(s.pos, b)) {
                expand(s.pos + 1, s.next, out);
            }
        }
        return dedupe(out);
    }

    /** The paths after the terminal on top of {@code s} has matched (whatever the byte). */
    List<Stack> successors(Stack s) {
        List<Stack> out = new ArrayList<>();
        expand(s.pos + 1, s.next, out);
        return dedupe(out);
    }

    /** Adds the paths that continue at {@code pos} with {@code next} below, each with a terminal on top. */
    void expand(int pos, Stack next, List<Stack> out) {
        expand(pos, next, out, grammar.tailCycles ? new HashSet<>() : null);
    }

    /**
     * {@code visited}: the (position, stack below) pairs this expansion entered, where the grammar has tail cycles;
     * entering one again would add the same paths again (and never end).
     */
    private void expand(int pos, Stack next, List<Stack> out, HashSet<Stack> visited) {
        while (true) {
            if (visited != null && !visited.add(Stack.push(grammar, pos, next))) {
                return;
            }
            switch (grammar.kind[pos]) {
                case Grammar.TERMINAL -> {
                    out.add(Stack.push(grammar, pos, next));
                    return;
                }
                case Grammar.END -> {
                    if (next == null) {
                        out.add(Stack.ACCEPT);
                        return;
                    }
                    pos = next.pos;
                    next = next.next;
                }
                default -> {
                    int cont = pos + 1;
                    Stack below = grammar.kind[cont] == Grammar.END ? next : Stack.push(grammar, cont, next);
                    int[] alts = grammar.alternatives[grammar.ref[pos]];
                    for (int i = 0; i < alts.length - 1; i++) {
                        expand(alts[i], below, out, visited);
                    }
                    pos = alts[alts.length - 1];
                    next = below;
                }
            }
        }
    }

    static List<Stack> dedupe(List<Stack> paths) {
        if (paths.size() < 2) {
            return paths;
        }
        if (paths.size() == 2) {
            return paths.get(0).equals(paths.get(1)) ? List.of(paths.get(0)) : paths;
        }
        HashSet<Stack> seen = new HashSet<>(paths.size() * 2);
        List<Stack> out = new ArrayList<>(paths.size());
        for (Stack s : paths) {
            if (seen.add(s)) {
                out.add(s);
            }
        }
        return out;
    }

    /** Whether {@code bytes} is a sentence (tests and grammar checks). */
    boolean matches(byte[] bytes) {
        return advance(initial, bytes).accepts;
    }
}
