package dev.arbor.generation.entropyorder;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The generator against Dream's {@code _sample} loop written out from METHODS.md §3.8 in this test, on exact
 * conditionals (temperature 0, alg_temp 0): {@code ts = linspace(1, eps, S+1)}; per step the masked positions' argmax
 * and confidence (negative entropy, or max probability for {@code maskgit_plus}); {@code k = floor(m (1 - ts[s+1] /
 * ts[s]))}, all at the last step; the top-k committed (ties to the left).
 */
class DreamReferenceTest {

    @Test
    void greedyEntropyOrderMatchesDreamsLoop() {
        EntropyOrderGenerator generator = new EntropyOrderGenerator();
        int compared = 0;
        for (LogitAlignment alignment : LogitAlignment.values()) {
            for (long seed = 1; seed <= 8; seed++) {
                EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.random(3, 5, seed, alignment);
                for (int steps : new int[] {5, 3, 2, 1}) {
                    for (boolean entropy : new boolean[] {true, false}) {
                        int[] expected = reference(model, steps, entropy);
                        GenerationResult r = generator.generate(TestContexts.context(model,
                                new int[] {model.boundaryToken()}, 5, TestContexts.greedy(), new int[0], 1,
                                Map.of("steps", steps, "confidence", entropy ? "neg_entropy" : "max_prob")),
                                TokenSink.DISCARD);
                        assertArrayEquals(expected, r.tokens(), alignment + " seed " + seed + " steps " + steps
                                + (entropy ? " entropy" : " maskgit_plus"));
                        compared++;
                    }
                }
            }
        }
        org.junit.jupiter.api.Assertions.assertEquals(128, compared);
    }

    private static int[] reference(EnumeratedJointMaskedBackend model, int steps, boolean entropy) {
        int n = model.length();
        int mask = model.maskToken();
        int[] x = new int[n];
        Arrays.fill(x, mask);
        double eps = 1e-3;
        for (int s = 0; s < steps; s++) {
            int m = (int) Arrays.stream(x).filter(t -> t == mask).count();
            double t = 1 + (eps - 1) * s / steps;
            double next = 1 + (eps - 1) * (s + 1) / steps;
            int k = s < steps - 1 ? (int) Math.floor(m * (1 - next / t)) : m;
            double[] conf = new double[n];
            int[] x0 = new int[n];
            for (int i = 0; i < n; i++) {
                conf[i] = Double.NEGATIVE_INFINITY;
                if (x[i] != mask) {
                    continue;
                }
                double[] p = model.conditional(i + 1, x);
                int best = 0;
                double h = 0;
                for (int v = 0; v < p.length; v++) {
                    if (p[v] > p[best]) {
                        best = v;
                    }
                    if (p[v] > 0) {
                        h += p[v] * Math.log(p[v]);
                    }
                }
                x0[i] = best;
                conf[i] = entropy ? h : p[best];
            }
            for (int j = 0; j < k; j++) {
                int pick = -1;
                for (int i = 0; i < n; i++) {
                    if (x[i] == mask && (pick < 0 || conf[i] > conf[pick])) {
                        pick = i;
                    }
                }
                x[pick] = x0[pick];
            }
        }
        return x;
    }
}
