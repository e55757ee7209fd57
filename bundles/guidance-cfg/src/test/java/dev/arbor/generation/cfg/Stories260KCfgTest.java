package dev.arbor.generation.cfg;

import static dev.arbor.generation.cfg.Samplers.context;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Conformance on a real network: llama2.c's stories260K on ONNX Runtime (format llama2c, converted into a temporary
 * cache; ONNX Runtime telemetry is switched off by the backend), with real native KV caches, forks and padded
 * batches. Ids: BOS is 1; {@code [1, 403, 407]} is the README's token-level example.
 */
class Stories260KCfgTest {
    private static final double TOL = 1e-4;
    @TempDir
    static Path cache;
    private static ModelBackend model;
    private final ClassifierFreeGuidanceGenerator cfg = new ClassifierFreeGuidanceGenerator();
    private final AutoregressiveGenerator unguided = new AutoregressiveGenerator();

    @BeforeAll
    static void open() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        model = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString()))));
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    @Test
    void scaleOneEqualsUnguidedTokenForTokenGreedyAndSeededSampling() {
        int[][] prompts = {{1}, {1, 403, 407}};
        for (int[] prompt : prompts) {
            for (long seed : new long[] {0, 42, 7}) {
                for (Supplier<Sampler> chain : List.of(Samplers.greedy(), Samplers.sampling())) {
                    GenerationResult want = unguided.generate(context(model, prompt, 60, chain, new int[] {2}, seed,
                            Map.of()), TokenSink.DISCARD);
                    GenerationResult got = cfg.generate(context(model, prompt, 60, chain, new int[] {2}, seed,
                            Map.of("guidance_scale", 1)), TokenSink.DISCARD);
                    assertThat(got.tokens()).isEqualTo(want.tokens());
                    assertThat(got.logProbs()).isEqualTo(want.logProbs());
                    assertThat(got.finishReason()).isEqualTo(want.finishReason());
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"fork", "batch"})
    void equalRowsGiveTheUnguidedOutputAtAnyScale(String mode) {
        int[] prompt = {1, 403, 407};
        GenerationResult want = unguided.generate(context(model, prompt, 40, Samplers.sampling(), null, 5, Map.of()),
                TokenSink.DISCARD);
        GenerationResult got = cfg.generate(context(model, prompt, 40, Samplers.sampling(), null, 5, Map.of(
                "guidance_scale", 3.0, "mode", mode, "negative_prompt_ids", List.of(1, 403, 407))), TokenSink.DISCARD);
        // fork: both rows are bit-identical copies; batch: two identical rows of one batch
        assertThat(got.tokens()).isEqualTo(want.tokens());
    }

    /**
     * Every combined row equals {@code uncond + s·(cond − uncond)} of two stateless recomputes (prompt + generated,
     * unconditional context + generated) within 1e-4, for the default unconditional context ([BOS], shared with
     * the prompt: fork mode forks after BOS), a negative prompt sharing two tokens, and one sharing none.
     */
    @ParameterizedTest
    @ValueSource(strings = {"fork", "batch"})
    void cachedRowsEqualANoCacheRecomputeOfBothRows(String mode) {
        int[] prompt = {1, 403, 407, 261};
        double s = 2.0;
        int[][] negatives = {null, {1, 403, 99}, {5, 6}};
        for (int[] negative : negatives) {
            List<float[]> rows = Samplers.newRecord();
            Map<String, Object> options = negative == null ? Map.of("guidance_scale", s, "mode", mode)
                    : Map.of("guidance_scale", s, "mode", mode, "negative_prompt_ids",
                    Arrays.stream(negative).boxed().toList());
            GenerationResult r = cfg.generate(context(model, prompt, 24, Samplers.recording(rows,
                    Samplers.INVERSE_CDF), null, 11, options), TokenSink.DISCARD);
            int[] uncond = negative == null ? new int[] {1} : negative;
            assertThat(rows).hasSize(r.tokens().length).hasSizeGreaterThan(10);
            for (int k = 0; k < rows.size(); k++) {
                float[] c = stateless(ClassifierFreeGuidanceGeneratorTest.concat(prompt,
                        Arrays.copyOf(r.tokens(), k)));
                float[] u = stateless(ClassifierFreeGuidanceGeneratorTest.concat(uncond,
                        Arrays.copyOf(r.tokens(), k)));
                float[] got = rows.get(k);
                double worst = 0;
                for (int v = 0; v < c.length; v++) {
                    double want = u[v] + s * ((double) c[v] - u[v]);
                    worst = Math.max(worst, Math.abs(got[v] - want));
                }
                assertThat(worst).as("mode %s, step %d, unconditional %s", mode, k, Arrays.toString(uncond))
                        .isLessThan(TOL);
            }
        }
    }

    private static float[] stateless(int[] seq) {
        return model.forward(ForwardRequest.builder(new int[][] {seq}).lastRowOnly().build()).last(0);
    }
}
