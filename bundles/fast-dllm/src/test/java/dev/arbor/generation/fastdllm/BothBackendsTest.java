package dev.arbor.generation.fastdllm;

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

/**
 * Fast-dLLM v2 on ONNX Runtime and on the reference model (see {@link TwoBackends}): the same tokens with the
 * committed-block cache and with the sub-block cache, which writes KV at given slots ({@code StateWrite.At}) on both.
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
            // The sub-block cache (StateWrite.At) runs on both: approximate against the uncached decode, but the
            // same approximation on both backends, so the tokens must agree.
            for (double threshold : new double[] {1.5, 0.5}) {
                check(models.onnx(NativeAttention.BLOCK_CAUSAL, 8), models.reference(NativeAttention.BLOCK_CAUSAL, 8),
                        models.prompt, Map.of("threshold", threshold, "sub_block_size", 4, "use_block_cache", true));
            }
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
