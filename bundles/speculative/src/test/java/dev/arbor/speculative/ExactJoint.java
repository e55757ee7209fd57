package dev.arbor.speculative;

import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.testkit.EnumeratedJointBackend;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The exact distribution of complete sequences that plain ancestral sampling from an {@link EnumeratedJointBackend}
 * produces when every conditional goes through a processor chain with that position's history: the product of the
 * processed conditionals, enumerated over every prefix (the reference the speculative output must match).
 */
public final class ExactJoint {
    private ExactJoint() {
    }

    public static Map<List<Integer>, Double> processed(EnumeratedJointBackend joint, Sampler chain) {
        Map<List<Integer>, Double> out = new HashMap<>();
        walk(joint, chain, new int[0], 1.0, out);
        return out;
    }

    private static void walk(EnumeratedJointBackend joint, Sampler chain, int[] prefix, double mass,
                             Map<List<Integer>, Double> out) {
        double[] c = joint.conditional(prefix);
        float[] logits = new float[c.length];
        for (int v = 0; v < c.length; v++) {
            logits[v] = (float) Math.log(c[v]);
        }
        // the prompt is [BOS] and the prefix is generated, as in a generator (constraints read only the latter)
        SamplingContext history = SamplingContext.seeded(new int[] {joint.boundaryToken()}, c.length, 0);
        for (int t : prefix) {
            history.append(t);
        }
        chain.process(logits, history);
        double[] p = TestSamplers.softmax(logits);
        for (int v = 0; v < p.length; v++) {
            if (p[v] == 0) {
                continue;
            }
            if (v == joint.boundaryToken()) {
                out.merge(Arrays.stream(prefix).boxed().toList(), mass * p[v], Double::sum);
            } else if (prefix.length < joint.maxLength()) {
                int[] next = Arrays.copyOf(prefix, prefix.length + 1);
                next[prefix.length] = v;
                walk(joint, chain, next, mass * p[v], out);
            }
        }
    }

    /** Counts of complete sequences as lists (the stop token excluded). */
    public static Map<List<Integer>, Long> newCounts() {
        return new HashMap<>();
    }

    /** A random permutation-free list of seeds (distinct, reproducible). */
    public static long[] seeds(int n, long base) {
        SplittableRandom r = new SplittableRandom(base);
        long[] s = new long[n];
        for (int i = 0; i < n; i++) {
            s[i] = r.nextLong();
        }
        return s;
    }

    static List<Integer> list(int[] tokens) {
        List<Integer> l = new ArrayList<>(tokens.length);
        for (int t : tokens) {
            l.add(t);
        }
        return l;
    }
}
