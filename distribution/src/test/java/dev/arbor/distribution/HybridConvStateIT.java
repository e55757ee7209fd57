package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.pipeline.PartPolicy;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.pipeline.TokenizerRef;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A hybrid model with convolution state beside KV (onnxruntime-genai's tiny-random-lfm2) in the assembled runtime:
 * the default autoregressive strategy and beam search serve it from prompt ids, and the strategies that roll the
 * state back are refused per request, naming the capability the model lacks. The model ships no tokenizer; the
 * pipeline borrows tiny-random-gpt2's (same 1000-id vocabulary) only because a pipeline needs one; requests give ids.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class HybridConvStateIT {
    private static final String PIPELINE = "tiny-lfm2";
    private static final int[] PROMPT = {0, 0, 195, 731};
    @TempDir
    static Path home;
    static RuntimeHarness runtime;
    static PipelineService pipelines;

    @BeforeAll
    static void start() throws Exception {
        Path model = SharedModels.require("tiny-random-lfm2");
        Path tokenizer = SharedModels.require("tiny-random-gpt2/tokenizer.json");
        runtime = new RuntimeHarness(home, model.getParent());
        pipelines = runtime.pipelines();
        pipelines.define(new PipelineDefinition(PIPELINE, "hybrid conv + attention test model",
                new ModelRef("onnxruntime", "onnx", model.toString(), Options.empty()),
                new TokenizerRef("huggingface", tokenizer.toString(), Options.empty()),
                PartRef.of("autoregressive"), List.of(), PartRef.of("greedy"), List.of(), Options.empty(),
                new PartPolicy(List.of("beam-search", "prompt-lookup", "jacobi", "speculative-tree"), List.of())));
        runtime.awaitReady(PIPELINE);
    }

    @AfterAll
    static void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
    }

    private static Completion complete(PartRef generator, Map<String, Object> options) {
        return pipelines.complete(new CompletionRequest(PIPELINE, null, PROMPT, List.of(), generator, null,
                Options.of(options)), TextSink.DISCARD);
    }

    @Test
    void theDefaultStrategyGeneratesWithTheCarriedStateAsWithoutACache() {
        Completion cached = complete(null, Map.of("max_tokens", 6));
        // the backend's own greedy run of this prompt (ConvStateTest), which recomputing every step reproduces
        assertThat(cached.tokens()).containsExactly(849, 973, 649, 212, 414, 667);
        Completion cacheFree = complete(null, Map.of("max_tokens", 6, "use_cache", false));
        assertThat(cacheFree.tokens()).containsExactly(cached.tokens());
    }

    @Test
    void beamSearchReordersTheConvolutionStateWithTheBeams() {
        Completion beams = complete(PartRef.of("beam-search"), Map.of("max_tokens", 6, "num_beams", 3));
        assertThat(beams.tokens()).isNotEmpty().hasSizeLessThanOrEqualTo(6);
        Completion oneBeam = complete(PartRef.of("beam-search"), Map.of("max_tokens", 6, "num_beams", 1));
        assertThat(oneBeam.tokens()).containsExactly(849, 973, 649, 212, 414, 667);
    }

    @Test
    void strategiesThatRollTheStateBackAreRefusedNamingTheMissingCapability() {
        for (String strategy : List.of("prompt-lookup", "jacobi")) {
            assertThatThrownBy(() -> complete(PartRef.of(strategy), Map.of("max_tokens", 6)))
                    .as(strategy)
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                    .hasMessageContaining("generator '" + strategy + "' needs STATE_TRUNCATE")
                    .hasMessageContaining("does not offer it");
        }
        assertThatThrownBy(() -> complete(PartRef.of("speculative-tree"), Map.of("max_tokens", 6)))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("generator 'speculative-tree' needs")
                .hasMessageContaining("does not offer it");
        // the pipeline keeps serving after the refusals
        assertThat(complete(null, Map.of("max_tokens", 2)).tokens()).containsExactly(849, 973);
    }
}
