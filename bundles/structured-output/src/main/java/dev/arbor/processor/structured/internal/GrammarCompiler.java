package dev.arbor.processor.structured.internal;

import dev.arbor.api.ArborException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Lowers named rules of {@link Expr}s to a flat {@link Grammar}: nested alternatives become auxiliary rules,
 * {@code x*} becomes {@code x-star ::= x x-star | ε} (a tail call, so the recognizer's stacks do not grow with the
 * repetition), {@code x{m,n}} becomes m copies of x followed by a chain of n-m optional copies. Then it refuses what
 * the stack-set recognizer cannot run, by rule name: undefined rules, left recursion (also through rules that can
 * derive the empty string; repetitions of what can be empty are allowed) and rules without a finite derivation.
 */
final class GrammarCompiler {
    /** Bound on the flat grammar's size, so a hostile {@code x{1000000}} is refused rather than built. */
    static final int MAX_POSITIONS = 1 << 21;

    private final String what;
    private final Map<String, Expr> rules;
    private final Map<String, Integer> index = new HashMap<>();
    private final List<String> names = new ArrayList<>();
    private final List<List<List<Object>>> lowered = new ArrayList<>();
    private int size;

    private GrammarCompiler(String what, Map<String, Expr> rules) {
        this.what = what;
        this.rules = rules;
    }

    /**
     * Compiles {@code rules} (in definition order) with start rule {@code root}; {@code what} names the option in
     * error messages ("grammar", "regex", "json_schema").
     */
    static Grammar compile(String what, LinkedHashMap<String, Expr> rules, String root) {
        if (!rules.containsKey(root)) {
            throw ArborException.invalid(what + ": the grammar has no rule '" + root + "' (the start rule); define "
                    + root + " ::= ...");
        }
        return new GrammarCompiler(what, rules).run(root);
    }

    private Grammar run(String root) {
        for (String name : rules.keySet()) {
            ruleIndex(name);
        }
        for (Map.Entry<String, Expr> rule : rules.entrySet()) {
            lowerRule(ruleIndex(rule.getKey()), rule.getValue());
        }
        return flatten(index.get(root));
    }

    private int ruleIndex(String name) {
        Integer i = index.get(name);
        if (i == null) {
            i = names.size();
            index.put(name, i);
            names.add(name);
            lowered.add(null);
        }
        return i;
    }

    private int newRule(String base) {
        String name = base;
        for (int k = 1; index.containsKey(name); k++) {
            name = base + "-" + k;
        }
        return ruleIndex(name);
    }

    private void lowerRule(int rule, Expr body) {
        List<List<Object>> alts = new ArrayList<>();
        if (body instanceof Expr.Alt alt) {
            for (Expr choice : alt.choices()) {
                alts.add(lowerSeq(choice, names.get(rule)));
            }
        } else {
            alts.add(lowerSeq(body, names.get(rule)));
        }
        lowered.set(rule, alts);
    }

    /** The elements (long[] byte sets and Integer rule indexes) of one alternative. */
    private List<Object> lowerSeq(Expr expr, String owner) {
        List<Object> out = new ArrayList<>();
        append(expr, owner, out);
        return out;
    }

    private void append(Expr expr, String owner, List<Object> out) {
        grow(1);
        if (expr instanceof Expr.Bytes b) {
            out.add(b.bits());
        } else if (expr instanceof Expr.Seq s) {
            for (Expr part : s.parts()) {
                append(part, owner, out);
            }
        } else if (expr instanceof Expr.Ref r) {
            Integer target = index.get(r.name());
            if (target == null || !rules.containsKey(r.name())) {
                throw ArborException.invalid(what + ": undefined rule '" + r.name() + "'"
                        + (r.where() != null ? " (" + r.where() + ")" : " (in rule '" + owner + "')")
                        + "; define it with " + r.name() + " ::= ...");
            }
            out.add(target);
        } else if (expr instanceof Expr.Alt a) {
            int aux = newRule(owner + "-alt");
            List<List<Object>> alts = new ArrayList<>();
            for (Expr choice : a.choices()) {
                alts.add(lowerSeq(choice, owner));
            }
            lowered.set(aux, alts);
            out.add(aux);
        } else {
            appendRepeat((Expr.Repeat) expr, owner, out);
        }
    }

    private void appendRepeat(Expr.Repeat r, String owner, List<Object> out) {
        if (r.min() < 0 || (r.max() >= 0 && r.max() < r.min())) {
            throw ArborException.invalid(what + ": repetition {" + r.min() + "," + r.max() + "} in rule '" + owner
                    + "' has its maximum below its minimum");
        }
        // the body once, as one element: inline when it is a single element, else an auxiliary rule
        List<Object> body = lowerSeq(r.body(), owner);
        Object element;
        if (body.size() == 1) {
            element = body.get(0);
        } else {
            int aux = newRule(owner + "-group");
            lowered.set(aux, List.of(body));
            element = aux;
        }
        long copies = (long) r.min() + (r.max() < 0 ? 1 : r.max() - r.min()) * 2L;
        grow(copies);
        for (int i = 0; i < r.min(); i++) {
            out.add(element);
        }
        if (r.max() < 0) {
            int star = newRule(owner + "-star");
            List<Object> again = new ArrayList<>();
            again.add(element);
            again.add(star);
            lowered.set(star, List.of(again, List.of()));
            out.add(star);
        } else if (r.max() > r.min()) {
            // opt_1 ::= x | ε ; opt_k ::= x opt_{k-1} | ε
            int previous = -1;
            for (int k = 1; k <= r.max() - r.min(); k++) {
                int opt = newRule(owner + "-opt");
                List<Object> more = new ArrayList<>();
                more.add(element);
                if (previous >= 0) {
                    more.add(previous);
                }
                lowered.set(opt, List.of(more, List.of()));
                previous = opt;
            }
            out.add(previous);
        }
    }

    private void grow(long n) {
        size += (int) Math.min(n, MAX_POSITIONS);
        if (size > MAX_POSITIONS) {
            throw ArborException.invalid(what + ": the grammar is too large (over " + MAX_POSITIONS
                    + " elements once repetitions are expanded); use smaller repetition counts");
        }
    }

    private Grammar flatten(int root) {
        int rulesCount = names.size();
        int total = 0;
        for (List<List<Object>> alts : lowered) {
            for (List<Object> alt : alts) {
                total += alt.size() + 1;
            }
        }
        byte[] kind = new byte[total];
        int[] ref = new int[total];
        long[] bits = new long[total * 4];
        int[][] alternatives = new int[rulesCount][];
        int p = 0;
        for (int r = 0; r < rulesCount; r++) {
            List<List<Object>> alts = lowered.get(r);
            alternatives[r] = new int[alts.size()];
            for (int a = 0; a < alts.size(); a++) {
                alternatives[r][a] = p;
                for (Object element : alts.get(a)) {
                    if (element instanceof long[] set) {
                        kind[p] = Grammar.TERMINAL;
                        System.arraycopy(set, 0, bits, p * 4, 4);
                    } else {
                        kind[p] = Grammar.RULE;
                        ref[p] = (Integer) element;
                    }
                    p++;
                }
                kind[p++] = Grammar.END;
            }
        }
        int[] ruleMin = minLengths(kind, ref, alternatives);
        boolean[] reachable = reachable(root, kind, ref, alternatives);
        boolean tailCycles = checkLeftRecursion(kind, ref, alternatives, ruleMin, reachable);
        List<String> endless = new ArrayList<>();
        for (int r = 0; r < rulesCount; r++) {
            if (reachable[r] && ruleMin[r] == Integer.MAX_VALUE) {
                endless.add(names.get(r));
            }
        }
        if (!endless.isEmpty()) {
            // the last defined is usually the recursive rule itself; the others only depend on it
            String culprit = endless.get(endless.size() - 1);
            throw ArborException.invalid(what + ": rule '" + culprit + "' never ends: each of its alternatives needs"
                    + " it again" + (endless.size() > 1 ? " (so neither do " + endless.subList(0, endless.size() - 1)
                            + ")" : "") + "; give it an alternative without that recursion");
        }
        int[] suffixMin = new int[total];
        for (int r = 0; r < rulesCount; r++) {
            for (int start : alternatives[r]) {
                int end = start;
                while (kind[end] != Grammar.END) {
                    end++;
                }
                long sum = 0;
                for (int q = end; q >= start; q--) {
                    sum += kind[q] == Grammar.END ? 0 : kind[q] == Grammar.TERMINAL ? 1 : ruleMin[ref[q]];
                    suffixMin[q] = (int) Math.min(sum, Integer.MAX_VALUE);
                }
            }
        }
        return new Grammar(kind, ref, bits, alternatives, names.toArray(new String[0]), root, suffixMin, ruleMin,
                tailCycles);
    }

    private static int[] minLengths(byte[] kind, int[] ref, int[][] alternatives) {
        int[] min = new int[alternatives.length];
        java.util.Arrays.fill(min, Integer.MAX_VALUE);
        boolean changed = true;
        while (changed) {
            changed = false;
            for (int r = 0; r < alternatives.length; r++) {
                for (int start : alternatives[r]) {
                    long sum = 0;
                    for (int q = start; kind[q] != Grammar.END && sum < Integer.MAX_VALUE; q++) {
                        sum += kind[q] == Grammar.TERMINAL ? 1 : min[ref[q]];
                    }
                    if (sum < min[r]) {
                        min[r] = (int) sum;
                        changed = true;
                    }
                }
            }
        }
        return min;
    }

    private static boolean[] reachable(int root, byte[] kind, int[] ref, int[][] alternatives) {
        boolean[] seen = new boolean[alternatives.length];
        java.util.ArrayDeque<Integer> todo = new java.util.ArrayDeque<>();
        seen[root] = true;
        todo.add(root);
        while (!todo.isEmpty()) {
            int r = todo.poll();
            for (int start : alternatives[r]) {
                for (int q = start; kind[q] != Grammar.END; q++) {
                    if (kind[q] == Grammar.RULE && !seen[ref[q]]) {
                        seen[ref[q]] = true;
                        todo.add(ref[q]);
                    }
                }
            }
        }
        return seen;
    }

    /**
     * Refuses left recursion that would grow the stacks without consuming a byte, and reports whether the grammar
     * has the harmless kind. An edge A -> B means B can start an alternative of A (after elements that can be
     * empty); it is a tail edge when B is the last element, which the recognizer enters without pushing anything.
     * A cycle through a non-tail edge is left recursion proper (refused, naming the rules); a cycle of tail edges
     * only (x* where x can be empty, or rules that are each other's single element) revisits the same position
     * with the same stack, which the recognizer detects and skips (it then keeps a visited set per expansion).
     *
     * @return whether the grammar has tail-only cycles
     */
    private boolean checkLeftRecursion(byte[] kind, int[] ref, int[][] alternatives, int[] ruleMin,
            boolean[] reachable) {
        int n = alternatives.length;
        List<int[]> edges = new ArrayList<>(); // {from, to, tail}
        List<List<int[]>> out = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            out.add(new ArrayList<>());
        }
        for (int r = 0; r < n; r++) {
            if (!reachable[r]) {
                continue;
            }
            for (int start : alternatives[r]) {
                for (int q = start; kind[q] == Grammar.RULE; q++) {
                    int[] edge = {r, ref[q], kind[q + 1] == Grammar.END ? 1 : 0};
                    edges.add(edge);
                    out.get(r).add(edge);
                    if (ruleMin[ref[q]] != 0) {
                        break;
                    }
                }
            }
        }
        int[] component = components(n, out);
        boolean tailCycles = false;
        for (int[] e : edges) {
            if (component[e[0]] != component[e[1]]) {
                continue;
            }
            if (e[2] == 1) {
                tailCycles = true;
                continue;
            }
            List<Integer> back = path(e[1], e[0], out, component);
            StringBuilder cycle = new StringBuilder(names.get(e[0]));
            for (int c : back) {
                cycle.append(" -> ").append(names.get(c));
            }
            String first = names.get(e[0]);
            throw ArborException.invalid(what + ": rule '" + first + "' is left-recursive (" + cycle
                    + " without consuming input); rewrite it right-recursively, e.g. a ::= b a-rest,"
                    + " a-rest ::= c a-rest | \"\"");
        }
        return tailCycles;
    }

    /** Strongly connected components (iterative Tarjan), as a component number per rule. */
    private static int[] components(int n, List<List<int[]>> out) {
        int[] index = new int[n];
        int[] low = new int[n];
        int[] component = new int[n];
        boolean[] onStack = new boolean[n];
        java.util.Arrays.fill(index, -1);
        java.util.ArrayDeque<Integer> stack = new java.util.ArrayDeque<>();
        int[] cursor = new int[n];
        int counter = 0;
        int components = 0;
        java.util.ArrayDeque<Integer> call = new java.util.ArrayDeque<>();
        for (int root = 0; root < n; root++) {
            if (index[root] >= 0) {
                continue;
            }
            call.push(root);
            while (!call.isEmpty()) {
                int v = call.peek();
                if (index[v] < 0) {
                    index[v] = low[v] = counter++;
                    stack.push(v);
                    onStack[v] = true;
                }
                if (cursor[v] < out.get(v).size()) {
                    int w = out.get(v).get(cursor[v]++)[1];
                    if (index[w] < 0) {
                        call.push(w);
                    } else if (onStack[w]) {
                        low[v] = Math.min(low[v], index[w]);
                    }
                    continue;
                }
                call.pop();
                if (!call.isEmpty()) {
                    int parent = call.peek();
                    low[parent] = Math.min(low[parent], low[v]);
                }
                if (low[v] == index[v]) {
                    int w;
                    do {
                        w = stack.pop();
                        onStack[w] = false;
                        component[w] = components;
                    } while (w != v);
                    components++;
                }
            }
        }
        return component;
    }

    /** The rules on a shortest edge path from {@code from} to {@code to} inside one component (ending at to). */
    private static List<Integer> path(int from, int to, List<List<int[]>> out, int[] component) {
        java.util.Map<Integer, Integer> parent = new java.util.HashMap<>();
        java.util.ArrayDeque<Integer> queue = new java.util.ArrayDeque<>();
        queue.add(from);
        parent.put(from, -1);
        while (!queue.isEmpty()) {
            int v = queue.poll();
            if (v == to) {
                break;
            }
            for (int[] e : out.get(v)) {
                if (component[e[1]] == component[from] && !parent.containsKey(e[1])) {
                    parent.put(e[1], v);
                    queue.add(e[1]);
                }
            }
        }
        List<Integer> path = new ArrayList<>();
        for (int v = to; v != -1; v = parent.get(v)) {
            path.add(0, v);
        }
        return path;
    }
}
