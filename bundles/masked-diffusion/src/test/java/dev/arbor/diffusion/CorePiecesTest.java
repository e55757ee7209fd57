package dev.arbor.diffusion;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CorePiecesTest {

    @Test
    void uniformScheduleIsLladasGetNumTransferTokens() {
        assertArrayEquals(new int[] {3, 3, 2, 2}, UnmaskSchedule.UNIFORM.counts(10, 4));
        assertArrayEquals(new int[] {1, 1, 1, 0}, UnmaskSchedule.UNIFORM.counts(3, 4));
        assertArrayEquals(new int[] {8}, UnmaskSchedule.UNIFORM.counts(8, 1));
    }

    @Test
    void metricsFollowDream() {
        double[] p = {0.5, 0.3, 0.2};
        assertEquals(0.3, ConfidenceMetric.MAX_PROBABILITY.score(p, 1), 1e-12);
        assertEquals(0.2, ConfidenceMetric.MARGIN.score(p, 2), 1e-12);
        assertEquals(0.5 * Math.log(0.5) + 0.3 * Math.log(0.3) + 0.2 * Math.log(0.2),
                ConfidenceMetric.NEGATIVE_ENTROPY.score(p, 0), 1e-12);
    }

    @Test
    void lowConfidenceCommitsTheMostConfident() {
        List<Proposal> proposals = List.of(new Proposal(3, 0, 0.2, 0.2, null), new Proposal(4, 0, 0.9, 0.9, null),
                new Proposal(5, 0, 0.5, 0.5, null));
        StepView view = new StepView(null, 3, 6, 0, 1, 0, new SplittableRandom(1));
        List<Proposal> chosen = RemaskingPolicy.LOW_CONFIDENCE.choose(view, proposals, 2);
        assertEquals(List.of(4, 5), chosen.stream().map(Proposal::position).toList());
    }

    @Test
    void canvasTracksDecodingAndRefusesDoubleCommits() {
        Canvas c = new Canvas(new int[] {7, 8}, 3, 9);
        assertArrayEquals(new int[] {9, 9, 9}, c.generated());
        c.commit(3, 1, 0);
        assertEquals(2, c.maskedCount());
        assertArrayEquals(new int[] {2, 4}, c.maskedPositions(2, 5));
        assertEquals(0, c.decodedAt(3));
        assertThrows(IllegalStateException.class, () -> c.commit(3, 2, 1));
        assertThrows(IndexOutOfBoundsException.class, () -> c.commit(1, 2, 1));
        c.remask(3);
        assertEquals(3, c.maskedCount());
    }

    @Test
    void blockCausalBlocksFollowTheModelsAbsoluteBlocks() {
        DiffusionModel m = DiffusionModel.of(EnumeratedJointMaskedBackend.random(2, 6, 1, LogitAlignment.NEXT,
                NativeAttention.BLOCK_CAUSAL, 4), "test");
        Canvas c = new Canvas(new int[] {3, 0}, 5, 2);
        int[][] blocks = m.blocks(c, 0);
        assertArrayEquals(new int[] {2, 4}, blocks[0], "the first block shares the prompt's block");
        assertArrayEquals(new int[] {4, 7}, blocks[1]);
        AttentionSpec.Segments s = (AttentionSpec.Segments) m.attention(7, 0, 7);
        assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1, 1}, s.keySegment()[0]);
    }

    @Test
    void scaleCausalImagePriorsAreRefusedByName() {
        var backend = EnumeratedJointMaskedBackend.random(2, 6, 1, LogitAlignment.SAME, NativeAttention.SCALE_CAUSAL,
                0);
        var e = assertThrows(dev.arbor.api.ArborException.class, () -> DiffusionModel.of(backend, "llada"));
        assertEquals(dev.arbor.api.ArborException.Kind.INCOMPATIBLE, e.kind());
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("SCALE_CAUSAL")
                && e.getMessage().contains("'llada'"), e.getMessage());
    }

    @Test
    void bidirectionalBlocksStartAtThePromptsEnd() {
        DiffusionModel m = DiffusionModel.of(EnumeratedJointMaskedBackend.random(2, 6, 1, LogitAlignment.SAME),
                "test");
        Canvas c = new Canvas(new int[] {3}, 5, 2);
        int[][] blocks = m.blocks(c, 2);
        assertEquals(3, blocks.length);
        assertArrayEquals(new int[] {5, 6}, blocks[2]);
        assertEquals(1, m.blocks(c, 0).length, "0 = the whole region");
    }
}
