package dev.arbor.generation.cfg;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.ArborException;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CfgCombinerTest {

    private static float[] randomRow(SplittableRandom rng, int n, double scale) {
        float[] row = new float[n];
        for (int i = 0; i < n; i++) {
            row[i] = (float) ((rng.nextDouble() * 2 - 1) * scale);
        }
        return row;
    }

    @Test
    void scaleOneReturnsTheConditionalRowBitForBit() {
        SplittableRandom rng = new SplittableRandom(1);
        for (int trial = 0; trial < 200; trial++) {
            float[] cond = randomRow(rng, 512, 1 + trial);
            float[] uncond = randomRow(rng, 512, 1e-3 + trial * 7);
            assertThat(CfgCombiner.combine(cond, uncond, 1.0, "m")).isEqualTo(cond);
        }
    }

    @Test
    void equalRowsAreReturnedUnchangedForAnyScale() {
        SplittableRandom rng = new SplittableRandom(2);
        float[] row = randomRow(rng, 512, 20);
        row[7] = Float.NEGATIVE_INFINITY;
        for (double s : new double[] {0, 0.25, 1, 1.5, 3, 7.5, 100}) {
            assertThat(CfgCombiner.combine(row, row.clone(), s, "m")).isEqualTo(row);
        }
    }

    @Test
    void matchesLlamaGensFormulaAndItsScaleZeroEnd() {
        SplittableRandom rng = new SplittableRandom(3);
        float[] cond = randomRow(rng, 64, 8);
        float[] uncond = randomRow(rng, 64, 8);
        for (double s : new double[] {0, 0.5, 1.5, 4}) {
            float[] out = CfgCombiner.combine(cond, uncond, s, "m");
            for (int i = 0; i < out.length; i++) {
                // LlamaGen: logits = uncond_logits + (cond_logits - uncond_logits) * cfg_scale
                assertThat((double) out[i]).isCloseTo(uncond[i] + (cond[i] - uncond[i]) * s, within(1e-5));
            }
        }
        assertThat(CfgCombiner.combine(cond, uncond, 0, "m")).isEqualTo(uncond);
    }

    @Test
    void removedTokensFollowTheProbabilityForm() {
        float inf = Float.NEGATIVE_INFINITY;
        float[] cond = {0f, inf, 1f, inf};
        float[] uncond = {0f, 2f, inf, inf};
        assertThat(CfgCombiner.combine(cond, uncond, 2.0, "m")).containsExactly(0f, inf, inf, inf);
        assertThat(CfgCombiner.combine(cond, uncond, 0.5, "m")).containsExactly(0f, inf, inf, inf);
        assertThat(CfgCombiner.combine(cond, uncond, 1.0, "m")).containsExactly(cond);
        assertThat(CfgCombiner.combine(cond, uncond, 0.0, "m")).containsExactly(uncond);
    }

    @Test
    void nanAndPositiveInfinityAreRefusedAsBackendBugs() {
        assertThatThrownBy(() -> CfgCombiner.combine(new float[] {0, Float.NaN}, new float[2], 2, "tiny"))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.PLUGIN_FAILURE))
                .hasMessageContaining("tiny").hasMessageContaining("conditional").hasMessageContaining("token 1");
        assertThatThrownBy(() -> CfgCombiner.combine(new float[2], new float[] {Float.POSITIVE_INFINITY, 0}, 2,
                "tiny")).hasMessageContaining("unconditional").hasMessageContaining("token 0");
        assertThatThrownBy(() -> CfgCombiner.combine(new float[2], new float[3], 2, "tiny"))
                .hasMessageContaining("2 logits").hasMessageContaining("3");
    }
}
