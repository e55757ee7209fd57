package dev.arbor.sampling;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

/** Expected values come from the formulas (probabilities chosen as powers of two), not from running the code. */
class SamplingMathTest {
    private static final float NEG_INF = Float.NEGATIVE_INFINITY;

    private static float ln(double p) {
        return (float) Math.log(p);
    }

    @Test
    void softmaxRecoversProbabilitiesWhoseLogsAreTheLogits() {
        double[] p = SamplingMath.softmax(new float[] {ln(0.125), ln(0.5), NEG_INF, ln(0.25), ln(0.125)});
        assertThat(p).containsExactly(new double[] {0.125, 0.5, 0.0, 0.25, 0.125}, within(1e-7));
        assertThat(p[2]).isEqualTo(0.0);
    }

    @Test
    void softmaxIsShiftInvariantAndExactForEqualLogits() {
        // exp(0) = 1 for every entry after the shift: 1/4 exactly, even with huge logits.
        assertThat(SamplingMath.softmax(new float[] {1e30f, 1e30f, 1e30f, 1e30f}))
                .containsExactly(0.25, 0.25, 0.25, 0.25);
        assertThat(SamplingMath.softmax(new float[] {-1e30f, -1e30f})).containsExactly(0.5, 0.5);
    }

    @Test
    void logSoftmaxAndLogSumExp() {
        // logits 0, ln 3: sum of exps 4, so log_softmax = (-ln 4, ln 3 - ln 4) = (-1.3862944, -0.2876821).
        float[] logits = {0f, ln(3)};
        assertThat(SamplingMath.logSumExp(logits)).isCloseTo(Math.log(4), within(1e-7));
        assertThat(SamplingMath.logSoftmax(logits)).containsExactly(new double[] {-1.3862944, -0.2876821},
                within(1e-6));
        assertThat(SamplingMath.logSoftmax(new float[] {0f, NEG_INF})).containsExactly(0.0, Double.NEGATIVE_INFINITY);
    }

    @Test
    void rowsThatCannotBeNormalisedAreRefusedWithTheReason() {
        assertThatThrownBy(() -> SamplingMath.softmax(new float[] {NEG_INF, NEG_INF}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("every one of the 2 logits is -inf");
        assertThatThrownBy(() -> SamplingMath.softmax(new float[] {0f, Float.NaN}))
                .hasMessageContaining("logit of token 1 is NaN");
        assertThatThrownBy(() -> SamplingMath.logSumExp(new float[] {Float.POSITIVE_INFINITY}))
                .hasMessageContaining("logit of token 0 is Infinity");
    }

    @Test
    void argmaxTakesTheLowestIdAmongTies() {
        assertThat(SamplingMath.argmax(new float[] {1, 3, 3, 2})).isEqualTo(1);
        assertThat(SamplingMath.argmax(new float[] {0, 0, 0})).isEqualTo(0);
        assertThat(SamplingMath.argmax(new float[] {NEG_INF, -5, NEG_INF})).isEqualTo(1);
        assertThat(SamplingMath.argmax(new double[] {0.2, 0.4, 0.4})).isEqualTo(1);
    }

    @Test
    void kthLargestCountsTiesSeparately() {
        float[] v = {1, 3, 3, 2, NEG_INF};
        assertThat(SamplingMath.kthLargest(v, 1)).isEqualTo(3f);
        assertThat(SamplingMath.kthLargest(v, 2)).isEqualTo(3f);
        assertThat(SamplingMath.kthLargest(v, 3)).isEqualTo(2f);
        assertThat(SamplingMath.kthLargest(v, 5)).isEqualTo(NEG_INF);
        assertThat(v).containsExactly(1, 3, 3, 2, NEG_INF); // input untouched
        assertThatThrownBy(() -> SamplingMath.kthLargest(v, 6)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void argsortDescendingIsStableAndFoldsNegativeZero() {
        assertThat(SamplingMath.argsortDescending(new float[] {1, 3, NEG_INF, 3, -2, 1}))
                .containsExactly(1, 3, 0, 5, 4, 2);
        assertThat(SamplingMath.argsortDescending(new float[] {0.0f, -0.0f, 0.0f})).containsExactly(0, 1, 2);
        assertThat(SamplingMath.argsortDescending(new float[] {-1e-30f, Float.MAX_VALUE, -Float.MAX_VALUE}))
                .containsExactly(1, 0, 2);
        assertThat(SamplingMath.candidatesDescending(new float[] {NEG_INF, 2, NEG_INF, 5, 2}))
                .containsExactly(3, 1, 4);
    }

    @Test
    void argsortAscendingIsStable() {
        assertThat(SamplingMath.argsortAscending(new double[] {0.5, 0.1, 0.5, Double.POSITIVE_INFINITY, 0.1, 0.0}))
                .containsExactly(5, 1, 4, 0, 2, 3);
        assertThat(SamplingMath.argsortAscending(new double[0])).isEmpty();
        assertThat(SamplingMath.argsortAscending(new double[] {7})).containsExactly(0);
    }

    @Test
    void inverseCdfScansIdsInAscendingOrderAndSkipsZeroWeights() {
        double[] w = {1, 0, 2, 1}; // cumulative 1, 1, 3, 4 of sum 4: u*4 < cumulative
        assertThat(SamplingMath.inverseCdf(w, 0.0)).isEqualTo(0);
        assertThat(SamplingMath.inverseCdf(w, 0.2499)).isEqualTo(0);
        assertThat(SamplingMath.inverseCdf(w, 0.25)).isEqualTo(2); // 1 < 1 is false; id 1 has no weight
        assertThat(SamplingMath.inverseCdf(w, 0.7499)).isEqualTo(2);
        assertThat(SamplingMath.inverseCdf(w, 0.75)).isEqualTo(3);
        assertThat(SamplingMath.inverseCdf(w, Math.nextDown(1.0))).isEqualTo(3);
        assertThat(SamplingMath.inverseCdf(new double[] {0, 3, 0}, Math.nextDown(1.0))).isEqualTo(1);
        assertThatThrownBy(() -> SamplingMath.inverseCdf(new double[] {0, 0}, 0.5))
                .hasMessageContaining("all 2 weights are zero");
        assertThatThrownBy(() -> SamplingMath.inverseCdf(new double[] {1, -1}, 0.5))
                .hasMessageContaining("weight of index 1 is -1.0");
    }
}
