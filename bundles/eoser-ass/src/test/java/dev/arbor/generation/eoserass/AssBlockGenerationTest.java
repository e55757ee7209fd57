package dev.arbor.generation.eoserass;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.CanvasOutput;
import dev.arbor.diffusion.ConfidenceMetric;
import dev.arbor.diffusion.DiffusionModel;
import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.RemaskingPolicy;
import dev.arbor.diffusion.StepView;
import dev.arbor.diffusion.TokenProposer;
import dev.arbor.testkit.EnumeratedJointMaskedBackend;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestContexts;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The generator with {@code block_num > 1} runs the reference's multi-block plan: L = 64, block_num 3 gives S = 6 and
 * blocks of 15 (steps 0-3: 1, 2, 4, 8), 16 (step 4) and 33 (step 5: 32 + 1).
 */
class AssBlockGenerationTest {
    private final EoserAssGenerator generator = new EoserAssGenerator();
    private final ModelBackend tiny = TinyTransformers.bidirectional(LogitAlignment.NEXT, 3);
    private final int[] prompt = {1, 5, 9};

    /**
     * Six forwards; after steps 1-4 exactly 1, 3, 7, 15 tokens are decoded, all among the first 15 generated positions
     * (block 0 is complete after step 4); after step 5 exactly the first 31 positions; after step 6 all 64. With one
     * block (block_num 1) the same counts land anywhere in the 64 positions.
     */
    @Test
    void blocksAreDecodedLeftToRightInTheirOwnSteps() {
        RecordingSink sink = new RecordingSink();
        GenerationResult r = generator.generate(TestContexts.context(tiny, prompt, 64, TestContexts.greedy(),
                new int[0], 1, Map.of("block_num", 3)), sink);
        assertEquals(6, r.forwardPasses());
        assertEquals(64, r.tokens().length);
        int[] decoded = {1, 3, 7, 15, 31, 64};
        int[] within = {15, 15, 15, 15, 31, 64};
        assertEquals(6, sink.canvases().size());
        for (int s = 0; s < 6; s++) {
            int[] canvas = sink.canvases().get(s).tokens();
            int count = 0;
            for (int p = 0; p < canvas.length; p++) {
                if (canvas[p] != TinyTransformers.MASK) {
                    count++;
                    assertTrue(p < within[s], "step " + (s + 1) + " decoded position " + p + ", past block end "
                            + within[s]);
                }
            }
            assertEquals(decoded[s], count, "decoded after step " + (s + 1));
        }
        assertEquals(List.of(15, 16, 33), r.stats().get("block_sizes"));
    }

    /**
     * The policy sees the global step and the total S, as the reference passes {@code step_idx=i, total_steps=steps}
     * to {@code ass_sampling}: (step, S, block, count) = (0..3, 6, [3, 18), 1/2/4/8), (4, 6, [18, 34), 16),
     * (5, 6, [34, 67), 33).
     */
    @Test
    void thePolicySeesTheGlobalStepOfTheWholeGeneration() {
        GenerationContext context = TestContexts.context(tiny, prompt, 64, TestContexts.greedy(), new int[0], 1,
                Map.of());
        DiffusionModel model = DiffusionModel.of(tiny, "test");
        Canvas canvas = new Canvas(prompt, 64, model.maskTokenId());
        List<String> seen = new ArrayList<>();
        RemaskingPolicy recording = (StepView view, List<Proposal> proposals, int count) -> {
            seen.add(view.step() + "/" + view.steps() + " [" + view.blockStart() + "," + view.blockEnd() + ") " + count);
            return RemaskingPolicy.LOW_CONFIDENCE.choose(view, proposals, count);
        };
        new AssBlockLoop(model, new TokenProposer(context, model, ConfidenceMetric.MAX_PROBABILITY),
                new CanvasOutput(context, TokenSink.DISCARD, canvas), context.cancellation())
                .run(canvas, AssBlockPlan.of(64, 3), recording);
        assertEquals(List.of("0/6 [3,18) 1", "1/6 [3,18) 2", "2/6 [3,18) 4", "3/6 [3,18) 8", "4/6 [18,34) 16",
                "5/6 [34,67) 33"), seen);
        assertEquals(0, canvas.maskedCount());
    }

    @Test
    void refusesWhatTheMultiBlockPlanCannotRun() {
        assertRefused(tiny, 64, Map.of("block_num", 7), "between 1 and floor(log2 L) = 6");
        assertRefused(tiny, 64, Map.of("block_num", 3, "steps", 7), "floor(log2 L) = 6");
        assertRefused(tiny, 64, Map.of("block_num", 3, "block_length", 16), "'block_length' both");
        assertRefused(tiny, 64, Map.of("block_num", 3, "schedule", "uniform"), "schedule=ass");
        assertRefused(tiny, 3, Map.of("block_num", 2), "at least 4 generated tokens");
        EnumeratedJointMaskedBackend blockCausal = EnumeratedJointMaskedBackend.random(3, 6, 1, LogitAlignment.SAME,
                NativeAttention.BLOCK_CAUSAL, 2);
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestContexts.context(
                blockCausal, new int[] {blockCausal.boundaryToken()}, 6, TestContexts.greedy(), new int[0], 1,
                Map.of("block_num", 2)), TokenSink.DISCARD));
        assertTrue(e.getMessage().contains("block-causal"), e.getMessage());
        // steps equal to floor(log2 L) is accepted
        generator.generate(TestContexts.context(tiny, prompt, 64, TestContexts.greedy(), new int[0], 1,
                Map.of("block_num", 3, "steps", 6)), TokenSink.DISCARD);
    }

    private void assertRefused(ModelBackend model, int length, Map<String, Object> options, String expected) {
        ArborException e = assertThrows(ArborException.class, () -> generator.generate(TestContexts.context(model,
                prompt, length, TestContexts.greedy(), new int[0], 1, options), TokenSink.DISCARD));
        assertTrue(e.getMessage().contains(expected), options + ": " + e.getMessage());
    }
}
