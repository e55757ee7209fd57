package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The diffusion pipelines of the distribution ({@code etc/pipelines/arbor-tiny-mdlm.json}, masked-diffusion on the
 * forge's masked-diffusion LM, and {@code arbor-tiny-bd.json}, fast-dllm on its block-diffusion LM) in the assembled
 * runtime: each generates text with its own strategy and with every strategy its {@code overrides} allow (guided
 * diffusion with the installation's AR draft as guide), reporting forward passes and tokens per forward; a diffusion
 * strategy on the causal stories260k model is refused naming the strategy and the model.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DiffusionPipelinesIT {
    private static final List<String> PIPELINES = List.of("arbor-tiny-mdlm", "arbor-tiny-bd");
    @TempDir
    static Path home;
    static RuntimeHarness runtime;
    static PipelineService pipelines;

    @BeforeAll
    static void start() throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        Path dist = Path.of(System.getProperty("arbor.dist", "target/arbor")).toAbsolutePath();
        Path trained = dist.resolve("models"); // the distribution copies models/trained here
        List<Path> missing = new ArrayList<>();
        for (String name : List.of("arbor-tiny-mdlm", "arbor-tiny-bd", "arbor-tiny-draft")) {
            Path bin = trained.resolve(name).resolve(name + ".bin");
            if (!Files.isRegularFile(bin)) {
                missing.add(bin);
            }
        }
        if (!missing.isEmpty()) {
            String message = "the installation has no trained diffusion models (missing " + missing + "); the "
                    + "distribution copies them from models/trained, which the model forge commits";
            if (SharedModels.required()) {
                Assertions.fail(message + ", and arbor.requireModels=true forbids skipping");
            }
            Assumptions.abort(message);
        }
        // the pipelines name their models relative to the installation (${arbor.home}); the harness runs in a fresh
        // home, so it sees the installation's models folder there
        Files.createSymbolicLink(home.resolve("models"), dist.resolve("models"));
        runtime = new RuntimeHarness(home, models);
        // an operator's mistake, private to this home: a diffusion strategy configured on the causal model
        String stories = Files.readString(home.resolve("etc/pipelines/stories260k.json"));
        assertThat(stories).contains("\"name\": \"stories260k\"").contains("\"generator\": \"autoregressive\"");
        Files.writeString(home.resolve("etc/pipelines/stories260k-masked.json"), stories
                .replace("\"name\": \"stories260k\"", "\"name\": \"stories260k-masked\"")
                .replace("\"generator\": \"autoregressive\"", "\"generator\": \"masked-diffusion\""));
        pipelines = runtime.pipelines();
        for (String p : PIPELINES) {
            runtime.awaitReady(p);
        }
        runtime.awaitReady("stories260k");
    }

    @AfterAll
    static void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
    }

    private static Completion greedy(String pipeline, String generator) {
        return greedy(pipeline, generator, Map.of());
    }

    private static Completion greedy(String pipeline, String generator, Map<String, Object> options) {
        Map<String, Object> all = new java.util.HashMap<>(Map.of("temperature", 0, "max_tokens", 32));
        all.putAll(options);
        return pipelines.complete(new CompletionRequest(pipeline, "Once upon a time", null, List.of(),
                generator == null ? null : PartRef.of(generator), null, Options.of(all)), TextSink.DISCARD);
    }

    @Test
    void eachPipelineGeneratesWithItsOwnAndEveryAllowedStrategy() {
        for (String pipeline : PIPELINES) {
            PipelineStatus status = pipelines.status(pipeline).orElseThrow();
            List<String> strategies = new ArrayList<>();
            strategies.add(null); // the pipeline's own generator
            strategies.addAll(status.definition().overrides().generators());
            assertThat(strategies).as(pipeline + ": every other diffusion strategy is allowed").hasSize(7);
            for (String generator : strategies) {
                String where = pipeline + " with " + (generator == null ? "its own generator" : generator);
                Map<String, Object> options = Map.of();
                Completion c = greedy(pipeline, generator, options);
                System.out.printf("%s (%s forwards): %s%n", where, c.stats().get("forward_passes"),
                        c.text().replace('\n', ' ').replace('\r', ' '));
                assertThat(c.tokens()).as(where).isNotEmpty();
                assertThat(c.text()).as(where).containsPattern("[A-Za-z]{2,}");
                if (generator != null) {
                    assertThat(c.stats().get("generator")).as(where).isEqualTo(generator);
                }
                int forwards = ((Number) c.stats().get("forward_passes")).intValue();
                assertThat(forwards).as(where + ": forward passes").isPositive();
                assertThat(((Number) c.stats().get("tokens_per_forward")).doubleValue()).as(where)
                        .isEqualTo((double) c.tokens().length / forwards);
            }
            assertThat(status.ready()).isTrue();
        }
    }

    @Test
    void aDiffusionStrategyIsRefusedOnTheCausalStoriesModelNamingBothParts() {
        // a request cannot pick it on the stories260k pipeline (not in its overrides) ...
        assertThatThrownBy(() -> greedy("stories260k", "masked-diffusion")).isInstanceOf(ArborException.class)
                .hasMessageContaining("masked-diffusion").hasMessageContaining("stories260k");
        // ... and a pipeline that configures it on the causal model is refused when it runs, naming both parts
        runtime.awaitReady("stories260k-masked");
        assertThatThrownBy(() -> greedy("stories260k-masked", null))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INCOMPATIBLE))
                .hasMessageContaining("'masked-diffusion'").hasMessageContaining("stories260K")
                .hasMessageContaining("causal");
    }
}
