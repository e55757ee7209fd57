package dev.arbor.diffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import dev.arbor.testkit.TestSelectors;
import java.util.List;
import org.junit.jupiter.api.Test;

class TokenProposerTest {

    /**
     * The pipeline's chain runs before the selector and the confidence is read from the processed distribution; the
     * MASK id is never proposed even when its logit is the largest.
     */
    @Test
    void proposesFromTheProcessedDistributionAndNeverMask() {
        EnumeratedJointMaskedBackend toy = EnumeratedJointMaskedBackend.random(3, 3, 1, LogitAlignment.SAME);
        LogitsProcessor halve = (logits, context) -> {
            for (int i = 0; i < logits.length; i++) {
                logits[i] = logits[i] / 2f;
            }
        };
        GenerationContext context = new GenerationContext(toy, null, new int[] {4}, 3,
                () -> new Sampler(List.of(halve), TestSelectors.ARGMAX), new int[0], 1, Options.empty(),
                Cancellation.NEVER);
        TokenProposer proposer = new TokenProposer(context, DiffusionModel.of(toy, "test"),
                ConfidenceMetric.MAX_PROBABILITY);
        float[] logits = {2f, 1f, 0f, 9f, -1f}; // id 3 is MASK
        Proposal p = proposer.propose(1, logits);
        assertNotEquals(toy.maskToken(), p.token());
        assertEquals(0, p.token());
        double[] expected = TestSelectors.softmax(new float[] {1f, 0.5f, 0f, Float.NEGATIVE_INFINITY, -0.5f});
        assertEquals(expected[0], p.probability(), 1e-9);
        assertEquals(expected[0], p.confidence(), 1e-9);
        assertEquals(9f, logits[3], "the caller's row is not changed");
    }
}
