package dev.arbor.generation.eoserass;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The generator against {@code eoser_generate} / {@code eoser_ass_generate} written out from METHODS.md §3.6 in this
 * test (one block, temperature 0, exact conditionals): per step every masked position's argmax {@code x0} and
 * {@code c = p(x0)}, {@code c *= f(s)} when {@code x0} is EOS, then the {@code n(s)} highest committed (ties to the
 * left), with ASS counts 1, 2, ..., remainder and the matching ramp, or LLaDA's uniform counts and the linear ramp.
 * On EOS-padded joints, so that EOS proposals are frequent; the sweep must include cases where EOSER changed the
 * output, or the scaling would go untested.
 */
class EoserAssReferenceTest {

    @Test
    void greedyEoserMatchesTheReferenceLoop() {
        EoserAssGenerator generator = new EoserAssGenerator();
        int changed = 0;
        for (LogitAlignment alignment : LogitAlignment.values()) {
            for (long seed = 1; seed <= 12; seed++) {
                EnumeratedJointMaskedBackend model = EnumeratedJointMaskedBackend.randomVariableLength(3, 6, seed,
                        alignment);
                for (boolean ass : new boolean[] {true, false}) {
                    int steps = ass ? 3 : 6;
                    double gammaMin = ass ? 0.01 : 0.4;
                    int[] expected = reference(model, steps, ass, gammaMin);
                    GenerationResult r = generator.generate(TestContexts.context(model, new int[] {model.boundaryToken()},
                            6, TestContexts.greedy(), new int[0], 1, Map.of("schedule", ass ? "ass" : "uniform")),
                            TokenSink.DISCARD);
                    assertArrayEquals(expected, r.tokens(), alignment + " seed " + seed + (ass ? " ass" : " uniform"));
                    changed += Arrays.equals(expected, reference(model, steps, ass, 1.0)) ? 0 : 1;
                }
            }
        }
        assertTrue(changed > 0, "EOSER never changed an output in this sweep");
    }

    private static int[] reference(EnumeratedJointMaskedBackend model, int steps, boolean ass, double gammaMin) {
        int n = model.length();
        int mask = model.maskToken();
        int eos = model.boundaryToken();
        int[] counts = ass ? AscendingStepSize.INSTANCE.counts(n, steps)
                : dev.arbor.diffusion.UnmaskSchedule.UNIFORM.counts(n, steps);
        int[] x = new int[n];
        Arrays.fill(x, mask);
        for (int s = 0; s < steps; s++) {
            double f = ass ? gammaMin + (1 - gammaMin) * (Math.pow(2, s + 1) - 1) / Math.pow(2, steps)
                    : gammaMin + (1 - gammaMin) * s / (steps - 1.0);
            double[] conf = new double[n];
            int[] x0 = new int[n];
            for (int i = 0; i < n; i++) {
                if (x[i] != mask) {
                    continue;
                }
                double[] p = model.conditional(i + 1, x);
                int best = 0;
                for (int v = 1; v < p.length; v++) {
                    if (p[v] > p[best]) {
                        best = v;
                    }
                }
                x0[i] = best;
                conf[i] = best == eos ? p[best] * f : p[best];
            }
            int[] masked = java.util.stream.IntStream.range(0, n).filter(i -> x[i] == mask).toArray();
            for (int j = 0; j < counts[s]; j++) {
                int pick = -1;
                for (int i : masked) {
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
