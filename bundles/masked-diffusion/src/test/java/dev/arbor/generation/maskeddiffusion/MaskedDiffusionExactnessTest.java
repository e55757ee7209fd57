package dev.arbor.generation.maskeddiffusion;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Random-order masked decoding with one token per step is ancestral sampling in a random order, so it samples the
 * model's joint exactly (for an exact model, which the enumerated joint is): chi-square against the joint for both
 * logit alignments and for a block-causal model (blocks left to right, random order within). The power check: the
 * same test must reject decoding every position in one step from its marginal (a product of marginals, not the
 * joint) — the error parallel decoding makes.
 */
class MaskedDiffusionExactnessTest {
    private static final int SAMPLES = 30_000;
    private static final double ALPHA = ChiSquare.bonferroni(0.001, 4);

    @Test
    void oneTokenPerStepInRandomOrderSamplesTheJointWithSameAlignment() {
        ChiSquare.assertConsistent(run(EnumeratedJointMaskedBackend.random(3, 4, 11, LogitAlignment.SAME), 4),
                ALPHA);
    }

    @Test
    void oneTokenPerStepInRandomOrderSamplesTheJointWithNextAlignment() {
        ChiSquare.assertConsistent(run(EnumeratedJointMaskedBackend.random(3, 4, 11, LogitAlignment.NEXT), 4),
                ALPHA);
    }

    @Test
    void blockCausalModelSamplesTheJointBlockByBlock() {
        ChiSquare.assertConsistent(run(EnumeratedJointMaskedBackend.random(3, 4, 12, LogitAlignment.NEXT,
                NativeAttention.BLOCK_CAUSAL, 2), 4), ALPHA);
    }

    @Test
    void powerCheckDecodingAllPositionsInOneStepIsRejected() {
        ChiSquare.Result wrong = run(EnumeratedJointMaskedBackend.random(3, 4, 11, LogitAlignment.SAME), 1);
        assertFalse(wrong.accepts(ALPHA), "parallel decoding from marginals must be rejected, got p="
                + wrong.pValue());
    }

    private static ChiSquare.Result run(EnumeratedJointMaskedBackend model, int steps) {
        MaskedDiffusionGenerator generator = new MaskedDiffusionGenerator();
        Map<List<Integer>, Long> counts = new HashMap<>();
        int[] prompt = {model.boundaryToken()};
        for (int i = 0; i < SAMPLES; i++) {
            GenerationResult r = generator.generate(TestContexts.context(model, prompt, model.length(),
                    TestContexts.sampling(), new int[0], 1_000_003L * i + 7, Map.of("remasking", "random", "steps",
                            steps)), TokenSink.DISCARD);
            List<Integer> seq = new ArrayList<>();
            for (int t : r.tokens()) {
                seq.add(t);
            }
            counts.merge(seq, 1L, Long::sum);
        }
        return ChiSquare.test(model.joint(), counts);
    }
}
