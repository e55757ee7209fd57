package dev.arbor.generation.fastdllm;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.NativeAttention;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fast-dLLM v2 on ONNX Runtime and on the reference model (see {@link TwoBackends}): the same tokens with the
 * committed-block cache; the sub-block cache runs on the reference model and is refused on ONNX Runtime, which
 * cannot write its KV at given slots.
 */
class BothBackendsTest {
    @TempDir
    Path cache;

    @Test
    void bothBackendsDecodeTheSameTokens() {
        try (TwoBackends models = new TwoBackends(cache)) {
            for (double threshold : new double[] {1.5, 0.5, 0.1}) {
                Map<String, Object> options = Map.of("threshold", threshold, "sub_block_size", 4);
                check(models.onnx(NativeAttention.BLOCK_CAUSAL, 8), models.reference(NativeAttention.BLOCK_CAUSAL, 8),
                        models.prompt, options);
                check(models.onnx(NativeAttention.BIDIRECTIONAL, 0), models.reference(NativeAttention.BIDIRECTIONAL,
                        0), models.prompt, Map.of("threshold", threshold, "sub_block_size", 4, "block_size", 8));
            }
            GenerationResult withSubBlockCache = new FastDllmGenerator().generate(TestContexts.context(
                    models.reference(NativeAttention.BLOCK_CAUSAL, 8), models.prompt, 24, TestContexts.greedy(),
                    new int[0], 1, Map.of("sub_block_size", 4, "use_block_cache", true)), TokenSink.DISCARD);
            assertEquals(24, withSubBlockCache.tokens().length);
            ArborException e = assertThrows(ArborException.class, () -> new FastDllmGenerator().generate(
                    TestContexts.context(models.onnx(NativeAttention.BLOCK_CAUSAL, 8), models.prompt, 24,
                            TestContexts.greedy(), new int[0], 1, Map.of("use_block_cache", true)), TokenSink.DISCARD));
            assertTrue(e.getMessage().contains("STATE_WRITE_AT"), e.getMessage());
        }
    }

    private static void check(ModelBackend onnx, ModelBackend reference, int[] prompt, Map<String, Object> options) {
        FastDllmGenerator generator = new FastDllmGenerator();
        GenerationResult a = generator.generate(TestContexts.context(onnx, prompt, 24, TestContexts.greedy(), new int[0], 1,
                options), TokenSink.DISCARD);
        GenerationResult b = generator.generate(TestContexts.context(reference, prompt, 24, TestContexts.greedy(),
                new int[0], 1, options), TokenSink.DISCARD);
        assertEquals(24, a.tokens().length);
        assertArrayEquals(b.tokens(), a.tokens(), onnx.card().name() + " " + options);
    }
}
