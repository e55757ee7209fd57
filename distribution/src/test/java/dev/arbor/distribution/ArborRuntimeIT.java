package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleEvent;
import org.osgi.framework.SynchronousBundleListener;

/**
 * The assembled runtime in a real Felix: conformance of the full pipeline with the upstream reference output, the
 * cache-free reference path, bad input, and the deploy folder.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ArborRuntimeIT {
    private static final String RUNNER_UP = "dev.arbor.test.runnerup";
    @TempDir
    static Path home;
    static RuntimeHarness runtime;
    static PipelineService pipelines;
    static JsonNode expected;

    @BeforeAll
    static void start() throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        expected = new ObjectMapper().readTree(models.resolve("expected.json").toFile());
        runtime = new RuntimeHarness(home, models);
        pipelines = runtime.pipelines();
        runtime.awaitReady("stories260k");
    }

    @AfterAll
    static void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
    }

    static Completion greedy(String prompt, int maxTokens, Map<String, Object> extra) {
        Map<String, Object> options = new java.util.HashMap<>(extra);
        options.put("temperature", 0);
        options.put("max_tokens", maxTokens);
        return pipelines.complete(CompletionRequest.text("stories260k", prompt, Options.of(options)),
                TextSink.DISCARD);
    }

    @Test
    @Order(1)
    void stories260kGreedyFromBosReproducesTheUpstreamOutputByteForByte() {
        JsonNode greedy = expected.path("stories260K").path("greedy");
        int[] ids = new int[greedy.path("generated_ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = greedy.path("generated_ids").get(i).asInt();
        }
        StringBuilder streamed = new StringBuilder();
        Completion c = pipelines.complete(CompletionRequest.text("stories260k", "",
                Options.of(Map.of("temperature", 0, "max_tokens", greedy.path("steps").asInt()))),
                (delta, token) -> {
                    streamed.append(delta);
                    return true;
                });
        assertThat(c.promptTokens()).containsExactly(1);
        assertThat(c.tokens()).containsExactly(ids);
        assertThat(c.text()).isEqualTo(greedy.path("text").asText());
        assertThat(streamed.toString()).isEqualTo(c.text());
    }

    @Test
    @Order(2)
    void cacheFreeReferencePathGivesTheSameTokensAsTheKvCache() {
        for (String prompt : List.of("Once upon a time", "Lily and Ben", "The sun")) {
            Completion cached = greedy(prompt, 40, Map.of());
            Completion recomputed = greedy(prompt, 40, Map.of("use_cache", false));
            assertThat(recomputed.tokens()).as(prompt).containsExactly(cached.tokens());
        }
    }

    @Test
    @Order(3)
    void sameSeedSameSampleDifferentSeedDifferentSample() {
        Options o = Options.of(Map.of("temperature", 1.0, "max_tokens", 60, "seed", 7));
        Completion a = pipelines.complete(CompletionRequest.text("stories260k", "Once", o), TextSink.DISCARD);
        Completion b = pipelines.complete(CompletionRequest.text("stories260k", "Once", o), TextSink.DISCARD);
        Completion c = pipelines.complete(CompletionRequest.text("stories260k", "Once", o.with("seed", 8)),
                TextSink.DISCARD);
        assertThat(b.tokens()).containsExactly(a.tokens());
        assertThat(c.tokens()).isNotEqualTo(a.tokens());
    }

    @Test
    @Order(4)
    void stopStringsEndTheTextBeforeTheStopString() {
        Completion full = greedy("", 60, Map.of());
        String stop = "Lily";
        int at = full.text().indexOf(stop);
        assertThat(at).isPositive();
        Completion stopped = pipelines.complete(new CompletionRequest("stories260k", "", null, List.of(stop), null, null,
                Options.of(Map.of("temperature", 0, "max_tokens", 60))), TextSink.DISCARD);
        assertThat(stopped.text()).isEqualTo(full.text().substring(0, at));
        assertThat(stopped.finishReason().wireName()).isEqualTo("stop");
    }

    @Test
    @Order(5)
    void beamSearchRunsAsAPerRequestStrategy() {
        Completion beams = pipelines.complete(new CompletionRequest("stories260k", "Once upon a time", null,
                List.of(), PartRef.of("beam-search"), null, Options.of(Map.of("temperature", 0, "max_tokens", 20,
                "num_beams", 3))), TextSink.DISCARD);
        assertThat(beams.tokens()).hasSizeGreaterThan(0);
        assertThat(beams.stats()).containsEntry("generator", "beam-search");
        Completion oneBeam = pipelines.complete(new CompletionRequest("stories260k", "Once upon a time", null,
                List.of(), PartRef.of("beam-search"), null, Options.of(Map.of("temperature", 0, "max_tokens", 20,
                "num_beams", 1))), TextSink.DISCARD);
        assertThat(oneBeam.tokens()).containsExactly(greedy("Once upon a time", 20, Map.of()).tokens());
    }

    @Test
    @Order(7)
    void everySpeculativeStrategyAndUnitGuidanceServeThePlainGreedyTextPerRequest() {
        Completion plain = greedy("Once upon a time", 48, Map.of());
        Map<String, Map<String, Object>> strategies = new java.util.LinkedHashMap<>();
        strategies.put("speculative", Map.of("draft_layers", 3, "lookahead", 4));
        strategies.put("prompt-lookup", Map.of());
        strategies.put("jacobi", Map.of("window", 4));
        strategies.put("grouped-speculative", Map.of("window", 4));
        strategies.put("speculative-tree", Map.of("draft_layers", 2));
        strategies.put("cfg", Map.of("guidance_scale", 1.0));
        for (var strategy : strategies.entrySet()) {
            Completion c = pipelines.complete(new CompletionRequest("stories260k", "Once upon a time", null,
                    List.of(), new PartRef(strategy.getKey(), Options.of(strategy.getValue())), null,
                    Options.of(Map.of("temperature", 0, "max_tokens", 48))), TextSink.DISCARD);
            assertThat(c.tokens()).as(strategy.getKey()).containsExactly(plain.tokens());
            assertThat(c.stats()).as(strategy.getKey()).containsEntry("generator", strategy.getKey());
            if (!strategy.getKey().equals("cfg")) {
                assertThat(c.stats()).as(strategy.getKey()).containsKey("speculative.acceptance_rate");
            }
        }
        // a pipeline whose key variable is not set reports it instead of serving unmarked text
        assertThat(pipelines.status("stories260k-watermarked").orElseThrow().describe())
                .contains("arbor.watermark.key");
        // the pipeline that decodes speculatively by default gives the same text
        runtime.awaitReady("stories260k-speculative");
        Completion speculative = pipelines.complete(CompletionRequest.text("stories260k-speculative",
                "Once upon a time", Options.of(Map.of("temperature", 0, "max_tokens", 48))), TextSink.DISCARD);
        assertThat(speculative.tokens()).containsExactly(plain.tokens());
        // naming the pipeline's own generator without options runs the pipeline's entry, options included
        Completion named = pipelines.complete(new CompletionRequest("stories260k-speculative", "Once upon a time",
                null, List.of(), PartRef.of("speculative"), null,
                Options.of(Map.of("temperature", 0, "max_tokens", 48))), TextSink.DISCARD);
        assertThat(named.tokens()).containsExactly(plain.tokens());
        assertThat(speculativeStats(named)).isEqualTo(speculativeStats(speculative)).isNotEmpty();
    }

    private static Map<String, Object> speculativeStats(Completion c) {
        Map<String, Object> out = new java.util.TreeMap<>();
        c.stats().forEach((k, v) -> {
            if (k.startsWith("speculative.")) {
                out.put(k, v);
            }
        });
        return out;
    }

    @Test
    @Order(6)
    void aRequestMayChooseAnAllowedProcessorChain() {
        Options sampled = Options.of(Map.of("temperature", 1.0, "max_tokens", 30, "seed", 11));
        Completion pipelineChain = pipelines.complete(CompletionRequest.text("stories260k", "Once", sampled),
                TextSink.DISCARD);
        Completion minP = pipelines.complete(new CompletionRequest("stories260k", "Once", null, List.of(), null,
                List.of(PartRef.of("min-p")), sampled.with("min_p", 0.5)), TextSink.DISCARD);
        Completion sameAgain = pipelines.complete(new CompletionRequest("stories260k", "Once", null, List.of(), null,
                List.of(PartRef.of("min-p")), sampled.with("min_p", 0.5)), TextSink.DISCARD);
        assertThat(sameAgain.tokens()).containsExactly(minP.tokens());
        assertThat(minP.tokens()).isNotEqualTo(pipelineChain.tokens());
    }

    @Test
    @Order(10)
    void badInputGetsAMessageNamingTheCauseAndTheRuntimeKeepsServing(@TempDir Path scratch) throws Exception {
        PipelineDefinition base = runtime.awaitReady("stories260k").definition();
        int[] expectedTokens = greedy("Once", 10, Map.of()).tokens();

        // a truncated checkpoint
        Path checkpoint = Path.of(base.model().path());
        Path truncated = scratch.resolve("truncated.bin");
        Files.write(truncated, Arrays.copyOf(Files.readAllBytes(checkpoint), 1000));
        // (a definition is refused before it is stored: its model is opened first; the operator sees the detail)
        assertThatThrownBy(() -> pipelines.define(copy(base, "truncated", new dev.arbor.api.pipeline.ModelRef(
                "onnxruntime", "llama2c", truncated.toString(), Options.empty()), base.processors())))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("truncated.bin").hasMessageContaining("truncated");
        assertThat(pipelines.status("truncated")).isEmpty();

        // an ONNX file whose tensors are not a decoder's
        Path odd = scratch.resolve("identity.onnx");
        Files.write(odd, OddOnnx.identityModel());
        assertThatThrownBy(() -> pipelines.define(copy(base, "odd-onnx", new dev.arbor.api.pipeline.ModelRef(
                "onnxruntime", "onnx", odd.toString(), Options.empty()), base.processors())))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("identity.onnx").hasMessageContaining("x_in");

        // an unknown pipeline part
        List<PartRef> withUnknown = new ArrayList<>(base.processors());
        withUnknown.add(PartRef.of("no-such-processor"));
        pipelines.define(copy(base, "unknown-part", base.model(), withUnknown));
        assertThat(pipelines.status("unknown-part").orElseThrow().describe())
                .isEqualTo("unavailable: needs logits processor 'no-such-processor'");
        assertThatThrownBy(() -> run("unknown-part")).isInstanceOf(ArborException.class)
                .hasMessageContaining("logits processor 'no-such-processor'")
                .extracting(e -> ((ArborException) e).kind()).isEqualTo(ArborException.Kind.UNAVAILABLE);

        // a prompt longer than the context (stories260K: 512)
        int[] longPrompt = new int[600];
        Arrays.fill(longPrompt, 400);
        assertThatThrownBy(() -> pipelines.complete(new CompletionRequest("stories260k", null, longPrompt, List.of(),
                null, null, Options.empty()), TextSink.DISCARD)).isInstanceOf(ArborException.class)
                .hasMessageContaining("600").hasMessageContaining("512");

        // an unknown pipeline and a bad option value
        assertThatThrownBy(() -> run("nope")).hasMessageContaining("unknown pipeline 'nope'");
        assertThatThrownBy(() -> pipelines.complete(CompletionRequest.text("stories260k", "x",
                Options.of(Map.of("top_p", 7))), TextSink.DISCARD)).hasMessageContaining("top_p");

        // per-request choices outside the pipeline's allow-list are refused, naming the part and what is allowed
        assertThatThrownBy(() -> pipelines.complete(new CompletionRequest("stories260k", "x", null, List.of(),
                PartRef.of("no-such-strategy"), null, Options.empty()), TextSink.DISCARD))
                .hasMessageContaining("generator 'no-such-strategy'").hasMessageContaining("beam-search");
        assertThatThrownBy(() -> pipelines.complete(new CompletionRequest("stories260k", "x", null, List.of(),
                null, List.of(PartRef.of("top-k"), PartRef.of("secret-processor")), Options.empty()),
                TextSink.DISCARD)).hasMessageContaining("logits processor 'secret-processor'");

        // still serving, same output
        assertThat(greedy("Once", 10, Map.of()).tokens()).containsExactly(expectedTokens);
    }

    @Test
    @Order(20)
    void aBundleDroppedIntoDeployIsStartedAndUsedAndLeavesWhenDeleted() throws Exception {
        int[] normal = greedy("Once", 12, Map.of()).tokens();
        Path jar = Path.of(System.getProperty("arbor.testBundles", "target/test-bundles"), "runner-up-selector.jar");
        runtime.trust(jar); // deploy/ starts only bundles the trust policy lists (DeployTrustIT covers the refusals)
        Path tmp = runtime.home.resolve("deploy/.runner-up.tmp");
        Files.copy(jar, tmp);
        Files.move(tmp, runtime.home.resolve("deploy/runner-up-selector.jar"), StandardCopyOption.ATOMIC_MOVE);
        RuntimeHarness.await(() -> !Arrays.equals(greedy("Once", 12, Map.of()).tokens(), normal), 60_000,
                () -> "the deployed runner-up selector was never used");
        Bundle deployed = runtime.bundle(RUNNER_UP);
        // Bundle.uninstall() stops the bundle (its services leave) and only then takes it out of the framework, so
        // "output is normal again" comes before "uninstalled". A slow STOPPED listener stretches that gap the way a
        // loaded machine does; the test must wait for the uninstall itself, not for its first visible effect.
        SynchronousBundleListener slowStop = event -> {
            if (event.getType() == BundleEvent.STOPPED && event.getBundle().getBundleId() == deployed.getBundleId()) {
                RuntimeHarness.sleep(1_000);
            }
        };
        runtime.context().addBundleListener(slowStop);
        try {
            Files.delete(runtime.home.resolve("deploy/runner-up-selector.jar"));
            RuntimeHarness.await(() -> deployed.getState() == Bundle.UNINSTALLED && Arrays.stream(
                    runtime.context().getBundles()).noneMatch(b -> RUNNER_UP.equals(b.getSymbolicName())), 60_000,
                    () -> "the bundle was not uninstalled after its file was deleted from deploy/");
        } finally {
            runtime.context().removeBundleListener(slowStop);
        }
        // once the uninstall has completed, no request may resolve its part: checked once, not polled
        assertThat(greedy("Once", 12, Map.of()).tokens()).containsExactly(normal);
    }

    @Test
    @Order(30)
    void huggingFaceTokenizerAndGenaiModelWorkInsideTheFramework() {
        Path model = SharedModels.require("tiny-random-gpt2/past.onnx");
        Path tokenizer = SharedModels.require("tiny-random-gpt2/tokenizer.json");
        PipelineDefinition base = runtime.awaitReady("stories260k").definition();
        pipelines.define(new PipelineDefinition("tiny-gpt2", "onnxruntime-genai test model",
                new dev.arbor.api.pipeline.ModelRef("onnxruntime", "onnx", model.toString(), Options.empty()),
                new dev.arbor.api.pipeline.TokenizerRef("huggingface", tokenizer.toString(), Options.empty()),
                PartRef.of("autoregressive"), List.of(), PartRef.of("greedy"), List.of(), Options.empty(), null));
        runtime.awaitReady("tiny-gpt2");
        Completion c = pipelines.complete(new CompletionRequest("tiny-gpt2", null, new int[] {0, 0, 195, 731},
                List.of(), null, null, Options.of(Map.of("max_tokens", 6))), TextSink.DISCARD);
        assertThat(c.tokens()).containsExactly(731, 114, 114, 114, 114, 114);
        // text goes through the Hugging Face tokenizer bundle (DJL natives, offline, inside OSGi)
        Completion text = pipelines.complete(new CompletionRequest("tiny-gpt2", "a", null, List.of(), null, null,
                Options.of(Map.of("max_tokens", 3))), TextSink.DISCARD);
        assertThat(text.promptTokens()).containsExactly(64);
        assertThat(text.text()).isNotEmpty();
        // ids outside the model's vocabulary are refused before they reach the model
        assertThatThrownBy(() -> pipelines.complete(CompletionRequest.text("tiny-gpt2", "Hello world",
                Options.empty()), TextSink.DISCARD)).hasMessageContaining("15496").hasMessageContaining("1000");
        assertThat(base).isNotNull();
    }

    private static Completion run(String pipeline) {
        return pipelines.complete(CompletionRequest.text(pipeline, "Once", Options.of(Map.of("max_tokens", 4))),
                TextSink.DISCARD);
    }

    static PipelineDefinition copy(PipelineDefinition base, String name, dev.arbor.api.pipeline.ModelRef model,
                                   List<PartRef> processors) {
        return new PipelineDefinition(name, "test", model, base.tokenizer(), base.generator(), processors,
                base.selector(), base.postProcessors(), base.defaults(), base.overrides());
    }
}
