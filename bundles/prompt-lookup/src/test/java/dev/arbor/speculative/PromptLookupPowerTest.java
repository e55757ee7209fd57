package dev.arbor.speculative;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.generation.promptlookup.PromptLookupDrafter;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The power check of prompt lookup's exactness test: the same 10^5-sample chi-square rejects the deliberately wrong
 * rule "on rejection draw from p with the draft token kept" with the real n-gram drafter. Lives in the loop's
 * package (on the flat test class path) to reach its package-private wrong rule.
 */
class PromptLookupPowerTest {
    @Test
    void theExactnessTestRejectsResamplingFromPWithTheDraftTokenKept() {
        EnumeratedJointBackend target = EnumeratedJointBackend.randomVariableLength(3, 4, 11);
        int bos = target.boundaryToken();
        Map<List<Integer>, Long> counts = new HashMap<>();
        SplittableRandom seeds = new SplittableRandom(5);
        for (int i = 0; i < 100_000; i++) {
            GenerationContext c = new GenerationContext(target, null, new int[] {bos}, 10,
                    () -> new Sampler(List.of(), (logits, context) -> {
                        double max = Double.NEGATIVE_INFINITY;
                        for (float l : logits) {
                            max = Math.max(max, l);
                        }
                        double[] w = new double[logits.length];
                        double sum = 0;
                        for (int v = 0; v < w.length; v++) {
                            w[v] = Math.exp(logits[v] - max);
                            sum += w[v];
                        }
                        int t = dev.arbor.sampling.SamplingMath.inverseCdf(w, context.random().nextDouble());
                        float[] p = new float[w.length];
                        for (int v = 0; v < w.length; v++) {
                            p[v] = (float) (w[v] / sum);
                        }
                        return new Selection(t, p, Math.log(p[t]), p[t]);
                    }), new int[] {bos}, seeds.nextLong(), Options.empty(), Cancellation.NEVER);
            GenerationResult r = SpeculativeDecoding.decodeWithWrongRejection(c, TokenSink.DISCARD,
                    new PromptLookupDrafter(1, 3), 3);
            counts.merge(Arrays.stream(r.tokens()).boxed().toList(), 1L, Long::sum);
        }
        ChiSquare.Result wrong = ChiSquare.test(target.joint(), counts);
        System.out.println("prompt lookup, wrong rule: " + wrong);
        assertThat(wrong.pValue()).isLessThan(ChiSquare.bonferroni(0.001, 1));
    }
}
