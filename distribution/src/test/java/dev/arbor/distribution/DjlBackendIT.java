package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.Options;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;
import org.osgi.framework.FrameworkEvent;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.wiring.FrameworkWiring;

/**
 * The djl backend inside the assembled runtime (real Felix, every real bundle): the DJL runtime bundle starts DJL's
 * PyTorch engine, the stories260k-djl pipeline (stories260k.json with only its backend line changed) serves the
 * upstream greedy output and the same tokens and text as the onnxruntime pipeline, uninstalling and reinstalling a
 * method bundle that uses it does not disturb the backend, and the backend bundle stops and starts cleanly.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DjlBackendIT {
    private static final String DJL = "stories260k-djl";
    private static final String ORT = "stories260k";
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
        runtime.awaitReady(DJL);
        runtime.awaitReady(ORT);
    }

    @AfterAll
    static void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
    }

    private static Completion greedy(String pipeline, String prompt, int maxTokens) {
        return pipelines.complete(CompletionRequest.text(pipeline, prompt,
                Options.of(Map.of("temperature", 0, "max_tokens", maxTokens))), TextSink.DISCARD);
    }

    @Test
    @Order(1)
    void djlPipelineReproducesTheUpstreamGreedyOutputAndTheOnnxRuntimePipeline() {
        JsonNode greedy = expected.path("stories260K").path("greedy");
        int[] ids = new int[greedy.path("generated_ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = greedy.path("generated_ids").get(i).asInt();
        }
        Completion djl = greedy(DJL, "", greedy.path("steps").asInt());
        Completion ort = greedy(ORT, "", greedy.path("steps").asInt());
        assertThat(djl.tokens()).containsExactly(ids);
        assertThat(djl.text()).isEqualTo(greedy.path("text").asText());
        assertThat(djl.tokens()).containsExactly(ort.tokens());
        for (String prompt : List.of("Once upon a time", "Lily and Ben", "The sun")) {
            assertThat(greedy(DJL, prompt, 60).text()).as(prompt).isEqualTo(greedy(ORT, prompt, 60).text());
        }
    }

    @Test
    @Order(2)
    void methodsThatEditTheStateRunOnTheDjlBackend() {
        Map<String, Object> beams = Map.of("temperature", 0, "max_tokens", 20, "num_beams", 3);
        Completion c = pipelines.complete(new CompletionRequest(DJL, "Once upon a time", null, List.of(),
                dev.arbor.api.pipeline.PartRef.of("beam-search"), null, Options.of(beams)), TextSink.DISCARD);
        assertThat(c.tokens()).isNotEmpty();
        Completion cacheFree = pipelines.complete(CompletionRequest.text(DJL, "Lily and Ben",
                Options.of(Map.of("temperature", 0, "max_tokens", 30, "use_cache", false))), TextSink.DISCARD);
        assertThat(cacheFree.tokens()).containsExactly(greedy(DJL, "Lily and Ben", 30).tokens());
    }

    @Test
    @Order(3)
    void reinstallingAMethodBundleDoesNotDisturbTheBackend() throws Exception {
        Bundle djlRuntime = runtime.bundle("dev.arbor.djl.runtime");
        Bundle backend = runtime.bundle("dev.arbor.backend.djl");
        long provider = djlProviderServiceId();
        int[] before = greedy(DJL, "Once", 40).tokens();

        Bundle autoregressive = runtime.bundle("dev.arbor.generation.autoregressive");
        String location = autoregressive.getLocation();
        autoregressive.uninstall();
        refresh(List.of(autoregressive));
        RuntimeHarness.await(() -> !pipelines.status(DJL).orElseThrow().ready(), 10_000,
                () -> "pipeline did not report the missing generator");
        assertThat(String.join(", ", pipelines.status(DJL).orElseThrow().missing())).contains("autoregressive");
        Bundle again = runtime.context().installBundle(location);
        again.start();
        runtime.awaitReady(DJL);

        assertThat(greedy(DJL, "Once", 40).tokens()).containsExactly(before);
        assertThat(djlRuntime.getState()).isEqualTo(Bundle.ACTIVE);
        assertThat(backend.getState()).isEqualTo(Bundle.ACTIVE);
        assertThat(runtime.bundle("dev.arbor.djl.runtime").getBundleId()).isEqualTo(djlRuntime.getBundleId());
        assertThat(djlProviderServiceId()).as("the djl provider service was not re-registered").isEqualTo(provider);
    }

    @Test
    @Order(4)
    void theBackendBundleStopsCleanlyAndComesBack() throws Exception {
        Bundle backend = runtime.bundle("dev.arbor.backend.djl");
        int[] before = greedy(DJL, "The sun", 30).tokens();
        backend.stop();
        assertThat(backend.getState()).isEqualTo(Bundle.RESOLVED);
        RuntimeHarness.await(() -> !pipelines.status(DJL).orElseThrow().ready(), 10_000,
                () -> "pipeline did not report the missing backend");
        assertThat(String.join(", ", pipelines.status(DJL).orElseThrow().missing())).contains("djl");
        assertThat(greedy(ORT, "The sun", 30).tokens()).containsExactly(before); // the other backend is untouched
        backend.start();
        runtime.awaitReady(DJL);
        assertThat(greedy(DJL, "The sun", 30).tokens()).containsExactly(before);
    }

    /**
     * The Hugging Face tokenizer bundle embeds its own private DJL (separate class loader, separate {@code Engine}
     * statics, libtokenizers): with the PyTorch engine already loaded by dev.arbor.djl.runtime, both still work.
     */
    @Test
    @Order(5)
    void theHuggingFaceTokenizersPrivateDjlCoexistsWithThePyTorchEngine() throws Exception {
        Path tokenizerJson = SharedModels.require("tiny-random-gpt2/tokenizer.json");
        Collection<ServiceReference<dev.arbor.api.tokenizer.TokenizerProvider>> refs = runtime.context()
                .getServiceReferences(dev.arbor.api.tokenizer.TokenizerProvider.class, "(arbor.part=huggingface)");
        assertThat(refs).hasSize(1);
        dev.arbor.api.tokenizer.TokenizerProvider hf = runtime.context().getService(refs.iterator().next());
        dev.arbor.api.tokenizer.Tokenizer tokenizer = hf.open(tokenizerJson, Options.empty());
        int[] ids = tokenizer.encode("Once upon a time", false);
        assertThat(ids).isNotEmpty();
        assertThat(tokenizer.decode(ids)).isEqualTo("Once upon a time");
        assertThat(greedy(DJL, "Once", 20).tokens()).containsExactly(greedy(ORT, "Once", 20).tokens());
        runtime.context().ungetService(refs.iterator().next());
    }

    private static long djlProviderServiceId() throws Exception {
        Collection<ServiceReference<ModelBackendProvider>> refs = runtime.context()
                .getServiceReferences(ModelBackendProvider.class, "(arbor.part=djl)");
        assertThat(refs).hasSize(1);
        return (Long) refs.iterator().next().getProperty("service.id");
    }

    private static void refresh(List<Bundle> bundles) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        runtime.context().getBundle(0).adapt(FrameworkWiring.class).refreshBundles(bundles, event -> {
            if (event.getType() == FrameworkEvent.PACKAGES_REFRESHED) {
                done.countDown();
            }
        });
        done.await();
    }
}
