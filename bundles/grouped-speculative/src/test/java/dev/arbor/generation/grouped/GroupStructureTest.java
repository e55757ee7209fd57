package dev.arbor.generation.grouped;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.Options;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.jacobi.AcceptanceRule;
import dev.arbor.jacobi.JacobiDecoder;
import dev.arbor.sampling.SamplingMath;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * GSD's group G on a hand-built row whose structure is known (METHODS.md §3.1): 20 ids with weights
 * {@code w_i = 1 + 0.01 i} (logits {@code ln w_i}, so the ascending-logit rank of id i is i and
 * {@code p_i = w_i / 21.9}, all within 0.15 of each other: the probability test keeps everyone), the draft x = 10, and
 * one-dimensional input embeddings: 0 for every id except id 8 at 2 (squared distance 4), id 12 at 0.7 (0.49, just
 * inside 0.5) and id 13 at 0.72 (0.5184, just outside).
 * <pre>
 * candidates with the reference window (7 below, 6 above: the slice [r-7 : r+7]): ranks 3..16 = ids 3..16
 * distance filter (squared L2 &lt; 0.5): drops 8 and 13, keeps 12
 * G = {3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16}, 12 ids
 * P(G) = (12 + 0.01 * (3+4+5+6+7+9+10+11+12+14+15+16)) / 21.9 = (12 + 1.12) / 21.9 = 13.12 / 21.9 = 0.599087
 * </pre>
 * For a deterministic draft (q one-hot at x, Q(G) = 1) the ratio, and so the probability that x is accepted, is P(G).
 */
class GroupStructureTest {
    private static final int VOCAB = 20;
    private static final int X = 10;
    private static final double TOTAL = 21.9;

    private static final EmbeddingAccess LINE = new EmbeddingAccess() {
        @Override
        public float[] embedding(int id) {
            return new float[] {switch (id) {
                case 8 -> 2f;
                case 12 -> 0.7f;
                case 13 -> 0.72f;
                default -> 0f;
            }};
        }

        @Override
        public int embeddingSize() {
            return 1;
        }
    };

    private static AcceptanceRule.Verification verification(double[] draft) {
        float[] logits = new float[VOCAB];
        for (int i = 0; i < VOCAB; i++) {
            logits[i] = (float) Math.log(1 + 0.01 * i);
        }
        return new AcceptanceRule.Verification(X, draft, logits, SamplingMath.softmax(logits));
    }

    private static double ratio(Map<String, Object> options, double[] draft) {
        GroupedRatioRule rule = new GroupedRatioRule(LINE, GroupedRatioRule.Config.of(Options.of(options)), "line");
        return rule.ratio(verification(draft));
    }

    /** Sum of {@code w_i / 21.9} over {@code ids}. */
    private static double mass(int... ids) {
        double sum = 0;
        for (int i : ids) {
            sum += (1 + 0.01 * i) / TOTAL;
        }
        return sum;
    }

    @Test
    void theReferenceWindowAndDistanceFilterGiveTheHandComputedGroup() {
        assertThat(ratio(Map.of(), null)).isCloseTo(13.12 / TOTAL, within(1e-6));
        assertThat(ratio(Map.of(), null)).isCloseTo(mass(3, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 16), within(1e-6));
        // Q sums over the same group: q uniform over the 20 ids gives Q(G) = 12 / 20 = 0.6, ratio 0.599087 / 0.6
        double[] uniform = new double[VOCAB];
        java.util.Arrays.fill(uniform, 1.0 / VOCAB);
        assertThat(ratio(Map.of(), uniform)).isCloseTo(13.12 / TOTAL / 0.6, within(1e-6));
    }

    /**
     * Each edge of the window and each side of the distance threshold moves P(G), and so x's acceptance probability:
     * <pre>
     * 6 below (ranks 4..16):   id 3 leaves G            P(G) = (13.12 - 1.03) / 21.9 = 12.09 / 21.9 = 0.552055
     * 5 above (ranks 3..15):   id 16 leaves G           P(G) = (13.12 - 1.16) / 21.9 = 11.96 / 21.9 = 0.546119
     * 8 below (ranks 2..16):   id 2 joins G             P(G) = (13.12 + 1.02) / 21.9 = 14.14 / 21.9 = 0.645662
     * 7 above (ranks 3..17):   id 17 joins G            P(G) = (13.12 + 1.17) / 21.9 = 14.29 / 21.9 = 0.652511
     * d_thr 0.48:              id 12 (0.49) leaves G    P(G) = (13.12 - 1.12) / 21.9 = 12.00 / 21.9 = 0.547945
     * d_thr 0.52:              id 13 (0.5184) joins G   P(G) = (13.12 + 1.13) / 21.9 = 14.25 / 21.9 = 0.650685
     * d_thr 5 (no filtering):  ids 8, 13 join G         P(G) = (13.12 + 1.08 + 1.13) / 21.9 = 15.33 / 21.9 = 0.700000
     * </pre>
     */
    @Test
    void theWindowEdgesAndTheDistanceThresholdEachChangeTheAcceptanceProbability() {
        assertThat(ratio(Map.of("neighbours_below", 6), null)).isCloseTo(12.09 / TOTAL, within(1e-6));
        assertThat(ratio(Map.of("neighbours_above", 5), null)).isCloseTo(11.96 / TOTAL, within(1e-6));
        assertThat(ratio(Map.of("neighbours_below", 8), null)).isCloseTo(14.14 / TOTAL, within(1e-6));
        assertThat(ratio(Map.of("neighbours_above", 7), null)).isCloseTo(14.29 / TOTAL, within(1e-6));
        assertThat(ratio(Map.of("d_thr", 0.48), null)).isCloseTo(12.00 / TOTAL, within(1e-6));
        assertThat(ratio(Map.of("d_thr", 0.52), null)).isCloseTo(14.25 / TOTAL, within(1e-6));
        assertThat(ratio(Map.of("d_thr", 5.0), null)).isCloseTo(15.33 / TOTAL, within(1e-6));
    }

    /** GSD's Jacobi window defaults to the reference's W = 16 (hard-coded in GSD's prefix_matching_next_tokens). */
    @Test
    void theJacobiWindowDefaultsToSixteen() {
        assertThat(JacobiDecoder.Settings.of(Options.empty()).window()).isEqualTo(16);
    }
}
