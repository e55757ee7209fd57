package dev.arbor.generation.raster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyCausalBackend;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Exactness of one guided step (METHODS.md §3.2 honest test 3) through the whole generator: with a one-token image
 * (a 1x1 token map) every request is one guided step, whose code must be distributed as
 * {@code p(x|c)^w · p(x)^(1−w)} renormalised over the codes, with {@code p(x|c)} the toy's distribution after
 * {@code [class]} and {@code p(x)} after {@code [null class]}, both known exactly, and {@code w} the convention's
 * weight (LlamaGen {@code s}, VAR {@code 1+t}, LLaDA {@code cfg+1}).
 *
 * <p>Design: 4 cases, 20,000 draws each, family-wise level 0.01 (Bonferroni). Power check: the same counts must
 * reject the weight off by one (the convention confused: {@code t} for {@code 1+t}), the weight off by a
 * quarter and the rows swapped, so
 * acceptance of the right weight is informative.
 */
class GuidedStepExactnessTest {
    private static final int DRAWS = 20_000;
    private static final String[] CONVENTIONS = {"llamagen", "var", "llada", "llamagen"};
    private static final double[] PARAMETERS = {2.0, 1.5, 0.5, 0.25};
    private static final double ALPHA = ChiSquare.bonferroni(0.01, CONVENTIONS.length);

    @Test
    void oneGuidedStepSamplesTheGeometricMixtureAndWrongWeightsAreRejected() {
        ImageLayout layout = ToyImageTokenizer.layout(2, 8, 3, 2, 1);
        ToyImageTokenizer tokenizer = new ToyImageTokenizer(layout, 3);
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(layout.vocabSize()).maxPositions(4).seed(77)
                .logitScale(2.5).build();
        int cls = layout.classToken(1);
        double[] cond = codeLogits(toy.logitsFor(cls), layout.codes());
        double[] uncond = codeLogits(toy.logitsFor(layout.nullClassToken()), layout.codes());
        RasterArGenerator generator = new RasterArGenerator();
        List<String> report = new ArrayList<>();
        for (int t = 0; t < CONVENTIONS.length; t++) {
            double w = CONVENTIONS[t].equals("llamagen") ? PARAMETERS[t] : PARAMETERS[t] + 1;
            long[] counts = new long[layout.codes()];
            for (int i = 0; i < DRAWS; i++) {
                int[] image = generator.generate(new GenerationContext(toy, tokenizer, new int[] {cls}, 1,
                        () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF), null, 1_000_000L * t + i,
                        Options.of(Map.of("cfg_convention", CONVENTIONS[t], "guidance_scale", PARAMETERS[t])),
                        Cancellation.NEVER), TokenSink.DISCARD).tokens();
                counts[image[0]]++;
            }
            ChiSquare.Result right = ChiSquare.test(geometric(cond, uncond, w), counts);
            ChiSquare.Result offByOne = ChiSquare.test(geometric(cond, uncond, w - 1), counts);
            ChiSquare.Result offByAQuarter = ChiSquare.test(geometric(cond, uncond, w + 0.25), counts);
            ChiSquare.Result swapped = ChiSquare.test(geometric(uncond, cond, w), counts);
            report.add(CONVENTIONS[t] + " " + PARAMETERS[t] + " (w=" + w + "): p=" + right.pValue() + ", w-1 p="
                    + offByOne.pValue() + ", w+0.25 p=" + offByAQuarter.pValue() + ", swapped p=" + swapped.pValue());
            ChiSquare.assertConsistent(right, ALPHA);
            assertThat(offByOne.pValue()).as(report.toString()).isLessThan(ALPHA);
            assertThat(offByAQuarter.pValue()).as(report.toString()).isLessThan(ALPHA);
            assertThat(swapped.pValue()).as(report.toString()).isLessThan(ALPHA);
        }
        System.out.println("raster-ar guided step (" + DRAWS + " draws each, alpha " + ALPHA + "): " + report);
        assertThat(toy.openStates()).isZero();
    }

    private static double[] codeLogits(float[] logits, int codes) {
        double[] out = new double[codes];
        for (int i = 0; i < codes; i++) {
            out[i] = logits[i];
        }
        return out;
    }

    /** {@code softmax(w·a + (1−w)·b)}: {@code ∝ p_a^w · p_b^(1−w)} for logits a, b. */
    static double[] geometric(double[] a, double[] b, double w) {
        double[] out = new double[a.length];
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < a.length; i++) {
            out[i] = w * a[i] + (1 - w) * b[i];
            max = Math.max(max, out[i]);
        }
        double sum = 0;
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.exp(out[i] - max);
            sum += out[i];
        }
        for (int i = 0; i < out.length; i++) {
            out[i] /= sum;
        }
        return out;
    }
}
