package dev.arbor.generation.jacobi;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.autoregressive.KvCache;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.guidance.Guidance;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Greedy SJD with classifier-free guidance rows on a real model: stories260K on ONNX Runtime, the unconditional
 * row a negative prompt of another length (so the batch-2 state is left-padded) or the default {@code [BOS]}. The
 * reference is the plain guided greedy loop written here: two KV caches fed one token per step, the rows combined
 * with {@link Guidance#combineWeighted} and the argmax taken. SJD's rows come from windows of W tokens on a
 * batch-2 state truncated after rejections, so equality also checks the padded prefill and the two-row rollback on
 * the ONNX backend.
 */
class Stories260KGuidedGreedyTest {
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

    /** The plain guided greedy AR loop: one token per step on each row's cache, combine, argmax, stop at EOS. */
    private static int[] guidedGreedy(int[] prompt, int[] uncond, double scale, int maxTokens) {
        int[] out = new int[maxTokens];
        int n = 0;
        try (KvCache cond = new KvCache(model); KvCache unc = new KvCache(model)) {
            float[] c = cond.appendLast(prompt).last(0).clone();
            float[] u = unc.appendLast(uncond).last(0).clone();
            while (n < maxTokens && n + Math.max(prompt.length, uncond.length) < model.card().maxPositions()) {
                int token = SamplingMath.argmax(Guidance.combineWeighted(c, u, scale, "stories260K"));
                if (Arrays.stream(model.card().eosTokenIds()).anyMatch(e -> e == token)) {
                    break;
                }
                out[n++] = token;
                c = cond.appendLast(token).last(0).clone();
                u = unc.appendLast(token).last(0).clone();
            }
        }
        return Arrays.copyOf(out, n);
    }

    @ParameterizedTest
    @CsvSource({
        "'Once upon a time', 'The', 64, 16, 3.0", "'Once upon a time', '', 100, 4, 1.5",
        "'Lily and Ben', 'Once upon a time there was', 80, 16, 2.0",
        "'The little dog was sad because', '', 64, 7, 3.0"})
    void greedySjdWithCfgRowsEqualsGuidedGreedy(String text, String negative, int maxTokens, int window,
                                                double scale) {
        int[] prompt = tokenizer.encode(text, true);
        int[] uncond = tokenizer.encode(negative, true);
        int[] expected = guidedGreedy(prompt, uncond, scale, maxTokens);
        int[] unguided = guidedGreedy(prompt, uncond, 1.0, maxTokens);
        assertThat(expected).as("guidance changes the output").isNotEqualTo(unguided);
        long accepted = 0;
        for (String init : new String[] {"random", "repeat"}) {
            Map<String, Object> options = new HashMap<>(Map.of("window", window, "init", init, "guidance_scale",
                    scale));
            if (!negative.isEmpty()) {
                options.put("negative_prompt", negative);
            }
            GenerationResult sjd = new JacobiGenerator().generate(new GenerationContext(model, tokenizer, prompt,
                    maxTokens, TestSamplers.greedy(), model.card().eosTokenIds(), 42, Options.of(options),
                    Cancellation.NEVER), TokenSink.DISCARD);
            assertThat(sjd.tokens()).as("%s / %s, window %d, init %s: %s", text, negative, window, init,
                    tokenizer.decode(sjd.tokens())).containsExactly(expected);
            assertThat(sjd.stats()).containsEntry("cfg.mode", "batch")
                    .containsEntry("cfg.unconditional", negative.isEmpty() ? "bos" : "negative_prompt");
            assertThat(sjd.forwardPasses()).isLessThanOrEqualTo(expected.length + 1);
            accepted += (long) sjd.stats().get("speculative.accepted");
        }
        // Drafts are accepted (recycled or repeated), so multi-token steps on the two-row state are compared too.
        assertThat(accepted).isPositive();
    }
}
