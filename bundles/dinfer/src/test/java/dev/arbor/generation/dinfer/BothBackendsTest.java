package dev.arbor.generation.dinfer;

import dev.arbor.testkit.TestContexts;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.NativeAttention;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** dInfer's decoders and caches on ONNX Runtime and on the reference model: the same tokens (see {@link TwoBackends}). */
class BothBackendsTest {
    @TempDir
    Path cache;

    @Test
    void bothBackendsDecodeTheSameTokens() {
        try (TwoBackends models = new TwoBackends(cache)) {
            for (String decoder : List.of("threshold", "credit", "hierarchy", "fixed")) {
                for (String kv : List.of("none", "prefix", "dual", "vicinity")) {
                    Map<String, Object> options = new HashMap<>(Map.of("decoder", decoder, "cache", kv,
                            "threshold", 0.3, "block_length", 8, "cache_update_freq", 3));
                    check(models.onnx(NativeAttention.BIDIRECTIONAL, 0),
                            models.reference(NativeAttention.BIDIRECTIONAL, 0), models.prompt, options);
                    options.remove("block_length");
                    check(models.onnx(NativeAttention.BLOCK_CAUSAL, 8), models.reference(NativeAttention.BLOCK_CAUSAL,
                            8), models.prompt, options);
                }
            }
        }
    }

    private static void check(ModelBackend onnx, ModelBackend reference, int[] prompt, Map<String, Object> options) {
        DinferGenerator generator = new DinferGenerator();
        GenerationResult a = generator.generate(TestContexts.context(onnx, prompt, 24, TestContexts.greedy(), new int[0], 1,
                options), TokenSink.DISCARD);
        GenerationResult b = generator.generate(TestContexts.context(reference, prompt, 24, TestContexts.greedy(),
                new int[0], 1, options), TokenSink.DISCARD);
        assertEquals(24, a.tokens().length);
        assertArrayEquals(b.tokens(), a.tokens(), onnx.card().name() + " " + options);
    }
}
