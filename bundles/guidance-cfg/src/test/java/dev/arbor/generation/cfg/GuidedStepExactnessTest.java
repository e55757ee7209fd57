package dev.arbor.generation.cfg;

import static dev.arbor.generation.cfg.Samplers.context;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Exactness of one guided step (METHODS.md §3.2 honest test 3): on an {@link EnumeratedJointBackend} whose
 * conditionals are known exactly, the "condition" is the prompt prefix {@code [BOS, 0]} and the unconditional
 * context is the default {@code [BOS]}, so {@code p(x|c)} = {@code conditional(0)} and {@code p(x)} =
 * {@code conditional()}. One guided step through the whole generator must sample
 * {@code q_s(x) ∝ p(x|c)^s · p(x)^(1−s)}.
 *
 * <p>Design: 4 (mode, scale) cases — fork 0.25, batch 2, fork 4, batch 1.5 — are 4 chi-square
 * tests of 100,000 draws each, family-wise level 0.01 with Bonferroni (per test 0.0025); about 10 s in all. Power check: the same draws, under the same test and level, must reject the two classic wrong
 * combinations — mixing probabilities instead of logits ({@code p(x) + s·(p(x|c) − p(x))}, clipped at 0) and the
 * scale on the wrong row ({@code p(x)^s · p(x|c)^(1−s)}) — so acceptance of the right one is informative.
 */
class GuidedStepExactnessTest {
    private static final int DRAWS = 100_000;
    private static final String[] MODES = {"fork", "batch", "fork", "batch"};
    private static final double[] SCALES = {0.25, 2.0, 4.0, 1.5};
    private static final double ALPHA = ChiSquare.bonferroni(0.01, SCALES.length);

    /** Every sequence of 0..2 symbols over 5 symbols, log-normal weights: full support after [] and after [0]. */
    private static EnumeratedJointBackend joint() {
        SplittableRandom rng = new SplittableRandom(20220726);
        Map<List<Integer>, Double> weights = new LinkedHashMap<>();
        weights.put(List.of(), weight(rng));
        for (int a = 0; a < 5; a++) {
            weights.put(List.of(a), weight(rng));
            for (int b = 0; b < 5; b++) {
                weights.put(List.of(a, b), weight(rng));
            }
        }
        return EnumeratedJointBackend.of(5, weights);
    }

    private static double weight(SplittableRandom rng) {
        double u1 = 1.0 - rng.nextDouble();
        double u2 = rng.nextDouble();
        return Math.exp(1.2 * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
    }

    @Test
    void oneGuidedStepSamplesTheGeometricMixtureAndTheTestRejectsWrongCombinations() {
        EnumeratedJointBackend joint = joint();
        int bos = joint.boundaryToken();
        double[] cond = joint.conditional(0);
        double[] uncond = joint.conditional();
        assertThat(java.util.Arrays.stream(cond).min().getAsDouble()).isPositive();
        assertThat(java.util.Arrays.stream(uncond).min().getAsDouble()).isPositive();
        List<String> report = new ArrayList<>();
        for (int t = 0; t < SCALES.length; t++) {
            String mode = MODES[t];
            double s = SCALES[t];
            long[] counts = new long[cond.length];
            for (int i = 0; i < DRAWS; i++) {
                GenerationResult r = cfg.generate(context(joint, new int[] {bos, 0}, 1, Samplers.sampling(), null,
                        1_000_000L * t + i, Map.of("guidance_scale", s, "mode", mode)),
                        TokenSink.DISCARD);
                counts[r.tokens()[0]]++;
            }
            ChiSquare.Result right = ChiSquare.test(geometric(cond, uncond, s), counts);
            ChiSquare.Result mixedProbabilities = ChiSquare.test(linear(cond, uncond, s), counts);
            ChiSquare.Result swappedRows = ChiSquare.test(geometric(uncond, cond, s), counts);
            report.add(mode + " s=" + s + ": p=" + right.pValue() + " (probability mix p="
                    + mixedProbabilities.pValue() + ", swapped rows p=" + swappedRows.pValue() + ")");
            ChiSquare.assertConsistent(right, ALPHA);
            assertThat(mixedProbabilities.pValue()).as(report.toString()).isLessThan(ALPHA);
            assertThat(swappedRows.pValue()).as(report.toString()).isLessThan(ALPHA);
        }
        System.out.println("cfg exactness (" + DRAWS + " draws each, alpha " + ALPHA + "): " + report);
        assertThat(joint.openStates()).isZero();
    }

    private final ClassifierFreeGuidanceGenerator cfg = new ClassifierFreeGuidanceGenerator();

    /** {@code ∝ a^s · b^(1−s)}, renormalised (in logs, as the generator computes it). */
    static double[] geometric(double[] a, double[] b, double s) {
        double[] out = new double[a.length];
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            out[i] = Math.exp(s * Math.log(a[i]) + (1 - s) * Math.log(b[i]));
            sum += out[i];
        }
        for (int i = 0; i < out.length; i++) {
            out[i] /= sum;
        }
        return out;
    }

    /** The wrong combination in probability space: {@code max(0, b + s·(a − b))}, renormalised. */
    static double[] linear(double[] a, double[] b, double s) {
        double[] out = new double[a.length];
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            out[i] = Math.max(0, b[i] + s * (a[i] - b[i]));
            sum += out[i];
        }
        for (int i = 0; i < out.length; i++) {
            out[i] /= sum;
        }
        return out;
    }
}
