package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.file.Files;
import java.nio.file.Path;
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
 * The TiDAR pipelines of the distribution ({@code etc/pipelines/arbor-tiny-tidar.json}, generator tidar on the
 * forge's dual-mode LM, and {@code arbor-tiny-tidar-ar.json}, the same model decoded autoregressively) in the
 * assembled runtime: both answer; at temperature 0 tidar returns exactly the autoregressive pipeline's tokens in
 * fewer forwards; a sampled request answers too, and a request may switch either pipeline to the other strategy.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class TiDarPipelineIT {
    private static final String TIDAR = "arbor-tiny-tidar";
    private static final String AR = "arbor-tiny-tidar-ar";
    @TempDir
    static Path home;
    static RuntimeHarness runtime;
    static PipelineService pipelines;

    @BeforeAll
    static void start() throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        Path dist = Path.of(System.getProperty("arbor.dist", "target/arbor")).toAbsolutePath();
        Path bin = dist.resolve("models").resolve(TIDAR).resolve(TIDAR + ".bin");
        if (!Files.isRegularFile(bin)) {
            String message = "the installation has no " + bin + "; the distribution copies it from models/trained, "
                    + "which the model forge commits";
            if (SharedModels.required()) {
                Assertions.fail(message + ", and arbor.requireModels=true forbids skipping");
            }
            Assumptions.abort(message);
        }
        Files.createSymbolicLink(home.resolve("models"), dist.resolve("models"));
        runtime = new RuntimeHarness(home, models);
        pipelines = runtime.pipelines();
        runtime.awaitReady(TIDAR);
        runtime.awaitReady(AR);
    }

    @AfterAll
    static void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
    }

    private static Completion complete(String pipeline, String generator, Map<String, Object> options) {
        return pipelines.complete(new CompletionRequest(pipeline, "Once upon a time", null, List.of(),
                generator == null ? null : PartRef.of(generator), null, Options.of(options)), TextSink.DISCARD);
    }

    @Test
    void greedyTidarAnswersWithTheAutoregressiveTokensInFewerForwards() {
        Map<String, Object> greedy = Map.of("temperature", 0, "max_tokens", 48);
        Completion tidar = complete(TIDAR, null, greedy);
        Completion ar = complete(AR, null, greedy);
        System.out.printf("tidar: %s forwards for %d tokens: %s%n", tidar.stats().get("forward_passes"),
                tidar.tokens().length, tidar.text().replace('\n', ' '));
        assertThat(tidar.text()).containsPattern("[A-Za-z]{2,}");
        assertThat(tidar.tokens()).containsExactly(ar.tokens());
        assertThat(tidar.stats().get("generator")).isEqualTo("tidar");
        int forwards = ((Number) tidar.stats().get("forward_passes")).intValue();
        assertThat(forwards).isPositive().isLessThan(((Number) ar.stats().get("forward_passes")).intValue());
        // The same strategy picked by a request on the autoregressive pipeline gives the same tokens.
        assertThat(complete(AR, "tidar", greedy).tokens()).containsExactly(ar.tokens());
    }

    @Test
    void sampledRequestsAnswerAndTheStrategyCanBeSwitched() {
        Map<String, Object> sampled = Map.of("temperature", 0.8, "top_p", 0.9, "max_tokens", 40, "seed", 3);
        Completion tidar = complete(TIDAR, null, sampled);
        assertThat(tidar.tokens()).isNotEmpty();
        assertThat(tidar.text()).containsPattern("[A-Za-z]{2,}");
        Completion again = complete(TIDAR, null, sampled);
        assertThat(again.tokens()).as("one seed, one output").containsExactly(tidar.tokens());
        assertThat(complete(TIDAR, "autoregressive", sampled).tokens()).isNotEmpty();
    }
}
