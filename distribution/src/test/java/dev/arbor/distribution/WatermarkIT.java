package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Watermarking in the assembled runtime: the {@code stories260k-watermarked} pipeline (key from the
 * {@code arbor.watermark.key} variable) marks what it generates, and {@code PipelineService.analyze} — what
 * {@code arbor watermark detect} and {@code POST /v1/arbor/watermark/detect} run — finds the mark in its text and not
 * in the unwatermarked pipeline's text; a request can neither change the key nor check against another key.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class WatermarkIT {
    private static final String KEY = "424242";
    @TempDir
    static Path home;
    static RuntimeHarness runtime;
    static PipelineService pipelines;

    @BeforeAll
    static void start() throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        runtime = new RuntimeHarness(home, models, Map.of("arbor.watermark.key", KEY));
        pipelines = runtime.pipelines();
        runtime.awaitReady("stories260k");
        runtime.awaitReady("stories260k-watermarked");
    }

    @AfterAll
    static void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
    }

    private static Completion sample(String pipeline, Map<String, Object> extra) {
        Map<String, Object> options = new java.util.HashMap<>(Map.of("temperature", 1.0, "top_p", 1.0,
                "max_tokens", 200, "seed", 5, "ignore_eos", true));
        options.putAll(extra);
        return pipelines.complete(CompletionRequest.text(pipeline, "Once upon a time", Options.of(options)),
                TextSink.DISCARD);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> report(String text, Map<String, Object> options) {
        PostProcessor.Output out = pipelines.analyze("stories260k-watermarked", text, Options.of(options));
        return (Map<String, Object>) out.annotations().get("watermark");
    }

    @Test
    void theMarkIsFoundInWatermarkedTextAndNotInPlainText() {
        Completion marked = sample("stories260k-watermarked", Map.of());
        Completion plain = sample("stories260k", Map.of());
        assertThat(marked.tokens()).hasSize(200);
        assertThat(marked.tokens()).isNotEqualTo(plain.tokens());
        // the generation's own report (the detector runs as the pipeline's post-processor)
        assertThat(((Map<?, ?>) marked.stats().get("watermark")).get("detected")).isEqualTo(true);

        Map<String, Object> onMarked = report(marked.text(), Map.of());
        Map<String, Object> onPlain = report(plain.text(), Map.of());
        assertThat(onMarked.get("detected")).as("report on watermarked text: %s", onMarked).isEqualTo(true);
        assertThat(((Number) onMarked.get("z_score")).doubleValue()).isGreaterThan(4.0);
        assertThat(onPlain.get("detected")).as("report on plain text: %s", onPlain).isEqualTo(false);
        assertThat(onPlain.get("key_id")).isEqualTo(onMarked.get("key_id"));
    }

    @Test
    void aRequestCannotChangeTheKeyNorCheckAgainstAnotherKey() {
        Completion configured = sample("stories260k-watermarked", Map.of());
        Completion tampered = sample("stories260k-watermarked", Map.of("hashing_key", 1));
        assertThat(tampered.tokens()).as("the operator's key wins over a request's").containsExactly(
                configured.tokens());
        String keyId = (String) report(configured.text(), Map.of()).get("key_id");
        assertThat(report(configured.text(), Map.of("key_id", keyId)).get("detected")).isEqualTo(true);
        assertThatThrownBy(() -> report(configured.text(), Map.of("key_id", "0123456789abcdef")))
                .isInstanceOf(ArborException.class).hasMessageContaining("0123456789abcdef")
                .hasMessageContaining(keyId);
    }

    @Test
    void pipelinesWithoutDetectorsRefuseToAnalyze() {
        assertThatThrownBy(() -> pipelines.analyze("stories260k", "Once upon a time", Options.empty()))
                .isInstanceOf(ArborException.class).hasMessageContaining("no post-processors");
    }
}
