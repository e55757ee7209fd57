package dev.arbor.generation.jacobi;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Greedy equivalence on a real model (issue 4): stories260K converted from llama2.c and run on ONNX Runtime (flat
 * class path; the backend turns ONNX Runtime's telemetry off). SJD with greedy selection must emit exactly the
 * tokens of plain greedy decoding ({@code autoregressive}) for several prompts, lengths and windows, EOS being a stop
 * token as in the pipeline. Real logits come from a KV cache that SJD truncates after rejections, so this also checks
 * the rollback on the ONNX backend.
 */
class Stories260KGreedyEquivalenceTest {
    @TempDir
    static Path cache;
    private static ModelBackend model;
    private static Llama2cTokenizer tokenizer;

    @BeforeAll
    static void open() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        Path tok = SharedModels.require("stories260K/tok512.bin");
        model = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString(), "device", "cpu"))));
        tokenizer = Llama2cTokenizer.read(tok, model.card().vocabSize());
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    @ParameterizedTest
    @CsvSource({
        "'Once upon a time', 64, 16", "'Once upon a time', 200, 4",
        "'Lily and Ben', 64, 4", "'Lily and Ben', 200, 16",
        "'The little dog was sad because', 64, 16", "'The little dog was sad because', 200, 7"})
    void greedySjdEqualsPlainGreedy(String text, int maxTokens, int window) {
        int[] prompt = tokenizer.encode(text, true);
        int[] stop = model.card().eosTokenIds();
        GenerationResult plain = new AutoregressiveGenerator().generate(new GenerationContext(model, tokenizer, prompt,
                maxTokens, TestSamplers.greedy(), stop, 0, Options.empty(), Cancellation.NEVER), TokenSink.DISCARD);
        for (String init : new String[] {"random", "repeat"}) {
            GenerationResult sjd = new JacobiGenerator().generate(new GenerationContext(model, tokenizer, prompt,
                    maxTokens, TestSamplers.greedy(), stop, 42, Options.of(Map.of("window", window, "init", init)),
                    Cancellation.NEVER), TokenSink.DISCARD);
            assertThat(sjd.tokens()).as("%s, %d tokens, window %d, init %s: %s", text, maxTokens, window, init,
                    tokenizer.decode(sjd.tokens())).containsExactly(plain.tokens());
            assertThat(sjd.finishReason()).isEqualTo(plain.finishReason());
            assertThat(sjd.forwardPasses()).isLessThanOrEqualTo(plain.forwardPasses());
            // Recycled drafts really are accepted (2-12 per run here), so multi-token steps are compared too.
            assertThat((long) sjd.stats().get("speculative.accepted")).isPositive();
        }
        assertThat(plain.tokens().length).isGreaterThan(Math.min(maxTokens, 30));
    }
}
