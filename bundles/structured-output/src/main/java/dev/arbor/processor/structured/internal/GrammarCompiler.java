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
 * derive the empty string) and rules without a finite derivation.
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
        checkLeftRecursion(kind, ref, alternatives, ruleMin, reachable);
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
        return new Grammar(kind, ref, bits, alternatives, names.toArray(new String[0]), root, suffixMin, ruleMin);
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

    /** Refuses a rule that can reach itself without consuming a byte (the recognizer would expand it forever). */
    private void checkLeftRecursion(byte[] kind, int[] ref, int[][] alternatives, int[] ruleMin, boolean[] reachable) {
        int n = alternatives.length;
        List<List<Integer>> edges = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            List<Integer> out = new ArrayList<>();
            for (int start : alternatives[r]) {
                for (int q = start; kind[q] == Grammar.RULE; q++) {
                    out.add(ref[q]);
                    if (ruleMin[ref[q]] != 0) {
                        break;
                    }
                }
            }
            edges.add(out);
        }
        int[] color = new int[n];
        for (int r = 0; r < n; r++) {
            if (reachable[r] && color[r] == 0) {
                List<Integer> path = new ArrayList<>();
                List<Integer> cycle = findCycle(r, edges, color, path);
                if (cycle != null) {
                    StringBuilder names = new StringBuilder();
                    for (int c : cycle) {
                        names.append(names.length() == 0 ? "" : " -> ").append(this.names.get(c));
                    }
                    String first = this.names.get(cycle.get(0));
                    throw ArborException.invalid(what + ": rule '" + first + "' is left-recursive (" + names
                            + " without consuming input" + (first.contains("-star") || first.contains("-opt")
                                    ? "; a repetition of something that can match the empty string" : "")
                            + "); rewrite it right-recursively, e.g. a ::= b a-rest, a-rest ::= c a-rest | \"\"");
                }
            }
        }
    }

    private static List<Integer> findCycle(int r, List<List<Integer>> edges, int[] color, List<Integer> path) {
        color[r] = 1;
        path.add(r);
        for (int next : edges.get(r)) {
            if (color[next] == 1) {
                List<Integer> cycle = new ArrayList<>(path.subList(path.indexOf(next), path.size()));
                cycle.add(next);
                return cycle;
            }
            if (color[next] == 0) {
                List<Integer> found = findCycle(next, edges, color, path);
                if (found != null) {
                    return found;
                }
            }
        }
        path.remove(path.size() - 1);
        color[r] = 2;
        return null;
    }
}
