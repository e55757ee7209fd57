package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RequestModelsTest {
    @TempDir
    Path etc;
    private final List<ModelRef> opened = new ArrayList<>();
    private RequestModels models;
    private RuntimeException failure;

    @BeforeEach
    void setUp() throws Exception {
        Path folder = Files.createDirectories(etc.resolve("models"));
        Files.writeString(folder.resolve("tiny-draft.json"),
                "{\"backend\": \"onnxruntime\", \"format\": \"llama2c\", \"path\": \"/models/draft.bin\"}");
        ModelRef target = new ModelRef("onnxruntime", "llama2c", "/models/target.bin", Options.empty());
        PipelineDefinition d = PipelineJson.parse(PipelineJsonTest.JSON, "p.json", "p", Map.of("arbor.models", "/m")::get);
        d = new PipelineDefinition("p", "", target, d.tokenizer(), d.generator(), d.processors(), d.selector(),
                d.postProcessors(), d.defaults(), d.overrides());
        models = new RequestModels(d, new ModelRegistry(folder, n -> null), ref -> {
            if (failure != null) {
                throw failure;
            }
            opened.add(ref);
            return null;
        });
    }

    @Test
    void aNameOrAnObjectNamingOneResolvesThroughTheRegistry() {
        assertThat(models.reference("draft", "tiny-draft").path()).isEqualTo("/models/draft.bin");
        assertThat(models.reference("draft", Map.of("model", "tiny-draft")).path()).isEqualTo("/models/draft.bin");
        assertThatThrownBy(() -> models.reference("draft", Map.of("model", "tiny-draft", "options", Map.of())))
                .hasMessageContaining("give only {\"model\": \"NAME\"}");
        assertThatThrownBy(() -> models.reference("draft", "nope")).hasMessageContaining("no model named 'nope'");
        assertThatThrownBy(() -> models.reference("draft", 3)).hasMessageContaining("must name a model of the "
                + "registry");
    }

    @Test
    void onlyFilesTheOperatorDeclaredAreOpened() {
        models.open(models.reference("draft", "tiny-draft"));
        models.open(new ModelRef("onnxruntime", "llama2c", "/models/target.bin", Options.of(Map.of("keep_layers", 2))));
        models.open(new ModelRef("onnxruntime", "llama2c", "/m/draft.bin", Options.empty())); // in the pipeline file
        assertThat(opened).hasSize(3);
        assertThatThrownBy(() -> models.open(new ModelRef("onnxruntime", "llama2c", "/etc/shadow", Options.empty())))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageNotContaining("shadow");
        assertThat(opened).hasSize(3);
    }

    @Test
    void anOpenFailureNamesTheModelAndTheKindButNoFileContentsOrPath() {
        failure = new ArborException(ArborException.Kind.BAD_MODEL,
                "/models/draft.bin: dim 1852400175 is not positive (header reads 'root:$6$')");
        assertThatThrownBy(() -> models.open(models.reference("draft", "tiny-draft")))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.UNAVAILABLE))
                .hasMessageContaining("model 'tiny-draft' is unavailable: its file is not a valid llama2c model")
                .hasMessageNotContaining("1852400175").hasMessageNotContaining("root")
                .hasMessageNotContaining("/models");
    }
}
