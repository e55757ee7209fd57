package dev.arbor.generation.speculative;

import static dev.arbor.generation.speculative.TestResolvers.context;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.speculative.SpeculativeDecoding;
import dev.arbor.speculative.TestSamplers;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Greedy equivalence on a real model: llama2.c stories260K (5 layers) on ONNX Runtime (format llama2c, converted
 * into a temporary cache; telemetry is switched off by the backend), with the self-speculative layer-skip drafts of
 * 2, 3 and 4 layers opened through the resolver exactly as the platform would ({@code draft_layers}). For three
 * prompts and 64 and 200 new tokens, greedy speculative decoding must emit exactly plain autoregressive greedy's
 * tokens.
 */
class Stories260kGreedyTest {
    @TempDir
    static Path cache;
    private static final Map<String, ModelBackend> OPEN = new ConcurrentHashMap<>();
    private static ModelRef targetRef;
    private static ModelBackend target;
    private static Llama2cTokenizer tokenizer;
    private static final Supplier<Sampler> GREEDY = () -> new Sampler(List.of(), TestSamplers.ARGMAX);
    private static final String[] PROMPTS = {"Once upon a time", "Lily and Ben", "The dog"};

    @BeforeAll
    static void open() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        tokenizer = Llama2cTokenizer.read(SharedModels.require("stories260K/tok512.bin"), 512);
        targetRef = new ModelRef("onnxruntime", "llama2c", checkpoint.toString(),
                Options.of(Map.of("cache_dir", cache.toString())));
        target = resolver().open(targetRef);
    }

    @AfterAll
    static void close() {
        OPEN.values().forEach(ModelBackend::close);
        OPEN.clear();
    }

    /** Opens references with the ONNX Runtime provider, sharing one backend per reference (as the platform does). */
    static ModelResolver resolver() {
        OnnxRuntimeBackendProvider provider = new OnnxRuntimeBackendProvider();
        return new ModelResolver() {
            @Override
            public ModelRef target() {
                return targetRef;
            }

            @Override
            public ModelBackend open(ModelRef ref) {
                return OPEN.computeIfAbsent(ref.toString(), k -> provider.open(new ModelSpec(Path.of(ref.path()),
                        ref.format(), ref.options())));
            }
        };
    }

    @ParameterizedTest(name = "{0}-layer draft")
    @ValueSource(ints = {2, 3, 4})
    void layerSkipDraftsGiveExactlyPlainGreedyOutput(int layers) {
        List<String> summary = new ArrayList<>();
        for (String text : PROMPTS) {
            int[] prompt = tokenizer.encode(text, true);
            for (int length : new int[] {64, 200}) {
                int[] plain = new AutoregressiveGenerator().generate(context(target, prompt, length, GREEDY, null, 0,
                        Map.of(), null), TokenSink.DISCARD).tokens();
                assertThat(plain).hasSize(length);
                {
                    GenerationResult r = new SpeculativeGenerator().generate(context(target, prompt, length, GREEDY,
                            null, 0, Map.of("draft_layers", layers, "lookahead", 4), resolver()), TokenSink.DISCARD);
                    assertThat(r.tokens()).as("'%s', %d tokens, %d-layer draft", text, length, layers)
                            .isEqualTo(plain);
                    SpeculativeGeneratorTest.checkStats(r);
                    summary.add(String.format("'%s' %d tokens, %d layers: acceptance %.3f, tokens/step %.2f", text,
                            length, layers, r.stats().get(SpeculativeDecoding.ACCEPTANCE_RATE),
                            r.stats().get(SpeculativeDecoding.TOKENS_PER_STEP)));
                }
            }
        }
        summary.forEach(System.out::println);
    }

    @Test
    void anExplicitDraftReferenceAndSamplingWorkOnTheRealModel() {
        int[] prompt = tokenizer.encode("Once upon a time", true);
        Map<String, Object> draft = Map.of("draft", Map.of("path", targetRef.path(), "options",
                Map.of("cache_dir", cache.toString(), "keep_layers", 3)));
        int[] plain = new AutoregressiveGenerator().generate(context(target, prompt, 100, GREEDY, null, 0, Map.of(),
                null), TokenSink.DISCARD).tokens();
        GenerationResult greedy = new SpeculativeGenerator().generate(context(target, prompt, 100, GREEDY, null, 0,
                draft, resolver()), TokenSink.DISCARD);
        assertThat(greedy.tokens()).isEqualTo(plain);
        Supplier<Sampler> sampling = () -> new Sampler(List.of(TestSamplers.repetitionPenalty(1.1),
                TestSamplers.temperature(0.8)), TestSamplers.INVERSE_CDF);
        for (long seed = 0; seed < 3; seed++) {
            GenerationResult r = new SpeculativeGenerator().generate(context(target, prompt, 100, sampling, null,
                    seed, Map.of("draft_layers", 4, "lookahead", 5), resolver()), TokenSink.DISCARD);
            assertThat(r.tokens()).hasSize(100);
            SpeculativeGeneratorTest.checkStats(r);
            assertThat((double) r.stats().get(SpeculativeDecoding.ACCEPTANCE_RATE)).isBetween(0.05, 1.0);
        }
    }
}
