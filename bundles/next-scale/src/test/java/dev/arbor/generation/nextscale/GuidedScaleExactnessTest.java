package dev.arbor.generation.nextscale;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Exactness of one guided scale (METHODS.md §3.2 honest test 3, VAR's form): with a single 1x1 scale every request
 * is one guided step (a one-step ramp is at full strength), whose code must be distributed as
 * {@code p(x|c)^(1+t) · p(x)^(−t)} renormalised over the codes, {@code p(x|c)} and {@code p(x)} being the toy's
 * distributions after {@code E[class]} and {@code E[null]}. 3 cases of 20,000 draws, family-wise level 0.01; power
 * check: the same counts reject {@code t} used as the weight (LlamaGen's form mistaken for VAR's) and swapped rows.
 */
class GuidedScaleExactnessTest {
    private static final int DRAWS = 20_000;
    private static final double[] T = {1.5, 0.5, 3.0};
    private static final double ALPHA = ChiSquare.bonferroni(0.01, T.length);

    @Test
    void oneGuidedScaleSamplesVarsMixtureAndWrongWeightsAreRejected() {
        ImageLayout layout = ToyImageTokenizer.layout(2, 8, 3, 2, 1);
        ToyImageTokenizer tokenizer = new ToyImageTokenizer(layout, 3);
        ToyScaleBackend toy = new ToyScaleBackend(layout.vocabSize(), 6, 1, 21);
        int cls = layout.classToken(2);
        double[] cond = codes(toy.logits(new float[][] {toy.embedding(cls)}, 0, new boolean[] {true}), layout);
        double[] uncond = codes(toy.logits(new float[][] {toy.embedding(layout.nullClassToken())}, 0,
                new boolean[] {true}), layout);
        NextScaleGenerator generator = new NextScaleGenerator();
        List<String> report = new ArrayList<>();
        for (int c = 0; c < T.length; c++) {
            long[] counts = new long[layout.codes()];
            for (int i = 0; i < DRAWS; i++) {
                int[] image = generator.generate(new GenerationContext(toy, tokenizer, new int[] {cls}, 1,
                        () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF), null, 1_000_000L * c + i,
                        Options.of(Map.of("guidance_scale", T[c])), Cancellation.NEVER), TokenSink.DISCARD).tokens();
                counts[image[0]]++;
            }
            double w = 1 + T[c];
            ChiSquare.Result right = ChiSquare.test(geometric(cond, uncond, w), counts);
            ChiSquare.Result llamagenForm = ChiSquare.test(geometric(cond, uncond, T[c]), counts);
            ChiSquare.Result swapped = ChiSquare.test(geometric(uncond, cond, w), counts);
            report.add("t=" + T[c] + ": p=" + right.pValue() + ", w=t p=" + llamagenForm.pValue() + ", swapped p="
                    + swapped.pValue());
            ChiSquare.assertConsistent(right, ALPHA);
            assertThat(llamagenForm.pValue()).as(report.toString()).isLessThan(ALPHA);
            assertThat(swapped.pValue()).as(report.toString()).isLessThan(ALPHA);
        }
        System.out.println("next-scale guided scale (" + DRAWS + " draws each, alpha " + ALPHA + "): " + report);
        assertThat(toy.openStates()).isZero();
    }

    private static double[] codes(float[] logits, ImageLayout layout) {
        double[] out = new double[layout.codes()];
        for (int i = 0; i < out.length; i++) {
            out[i] = logits[i];
        }
        return out;
    }

    /** {@code softmax(w·a + (1−w)·b)}. */
    private static double[] geometric(double[] a, double[] b, double w) {
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
