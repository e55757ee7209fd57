package dev.arbor.generation.maskeddiffusion;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.NativeAttention;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Masked-diffusion decoding on ONNX Runtime and on the reference model: the same tokens (see {@link TwoBackends}). */
class BothBackendsTest {
    @TempDir
    Path cache;

    @Test
    void bothBackendsDecodeTheSameTokens() {
        try (TwoBackends models = new TwoBackends(cache)) {
            check(models.onnx(NativeAttention.BIDIRECTIONAL, 0), models.reference(NativeAttention.BIDIRECTIONAL, 0),
                    models.prompt, Map.of("steps", 12, "block_length", 8));
            check(models.onnx(NativeAttention.BLOCK_CAUSAL, 8), models.reference(NativeAttention.BLOCK_CAUSAL, 8),
                    models.prompt, Map.of("steps", 12));
        }
    }

    private static void check(ModelBackend onnx, ModelBackend reference, int[] prompt, Map<String, Object> options) {
        MaskedDiffusionGenerator generator = new MaskedDiffusionGenerator();
        GenerationResult a = generator.generate(TestContexts.context(onnx, prompt, 24, TestContexts.greedy(), new int[0], 1,
                options), TokenSink.DISCARD);
        GenerationResult b = generator.generate(TestContexts.context(reference, prompt, 24, TestContexts.greedy(),
                new int[0], 1, options), TokenSink.DISCARD);
        assertEquals(24, a.tokens().length);
        assertArrayEquals(b.tokens(), a.tokens(), onnx.card().name());
    }
}
