package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.image.Png;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The shipped DetailFlow pipeline ({@code etc/pipelines/fashion-detailflow.json}: the next-detail generator, the
 * fashion-detailflow prior, the image-1d tokenizer fashion-detail-vq, image-png) with the installation's own models:
 * a class prompt gives a whole 28x28 PNG in 7 forwards, and the coarse image streams as canvases after the causal
 * start and after every group. A missing pipeline, model or bundle fails, it is never skipped.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DetailFlowPipelineIT {
    private final Path dist = Path.of(System.getProperty("arbor.dist", "target/arbor")).toAbsolutePath();
    private Path home;
    private RuntimeHarness runtime;
    private PipelineService pipelines;

    @BeforeAll
    void start() throws Exception {
        home = Files.createTempDirectory("arbor-detailflow-it-");
        Files.createSymbolicLink(home.resolve("models"), dist.resolve("models"));
        runtime = new RuntimeHarness(home, null);
        pipelines = runtime.pipelines();
    }

    @AfterAll
    void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
        RuntimeHarness.deleteTree(home);
    }

    @Test
    void aClassPromptGivesAWholeImageInSevenForwardsWithCoarseCanvases() {
        assertThat(pipelines.status("fashion-detailflow")).as("etc/pipelines/fashion-detailflow.json shipped")
                .isPresent();
        runtime.awaitReady("fashion-detailflow");
        assertThat(pipelines.imageLayout("fashion-detailflow").orElseThrow().tokensPerImage()).isEqualTo(16);
        List<float[][]> canvases = new ArrayList<>();
        TextSink sink = new TextSink() {
            @Override
            public boolean onText(String delta, int token) {
                return true;
            }

            @Override
            public void onImageCanvas(float[][] pixels, int step) {
                canvases.add(pixels);
            }
        };
        Completion c = pipelines.complete(CompletionRequest.text("fashion-detailflow", "sneaker",
                Options.of(Map.of("seed", 7L, "stream_canvas", true))), sink);
        assertThat(c.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(c.tokens()).hasSize(16);
        assertThat(((Number) c.stats().get("forward_passes")).intValue()).isEqualTo(7);
        assertThat(c.stats()).containsEntry("image_complete", true);
        float[][] image = Png.decode((byte[]) c.stats().get("image"));
        assertThat(image).hasNumberOfRows(28);
        assertThat(image[0]).hasSize(28);
        assertThat(canvases).hasSize(4).allSatisfy(p -> assertThat(p).hasNumberOfRows(28));
    }
}
