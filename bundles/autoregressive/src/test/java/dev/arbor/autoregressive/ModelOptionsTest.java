package dev.arbor.autoregressive;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.pipeline.ModelRef;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ModelOptionsTest {
    private static final ModelRef TARGET = new ModelRef("onnxruntime", "llama2c", "/m/target.bin",
            Options.of(Map.of("device", "cpu")));
    private static final ModelRef DRAFT = new ModelRef("onnxruntime", "llama2c", "/m/draft.bin", Options.empty());

    /** Knows the target and one registry model, "tiny-draft"; opens nothing. */
    private record Registry(ModelRef target) implements ModelResolver {
        @Override
        public ModelBackend open(ModelRef ref) {
            throw new AssertionError("parsing model options opens no model");
        }

        @Override
        public ModelRef named(String name) {
            if (!name.equals("tiny-draft")) {
                throw ArborException.invalid("no model named '" + name + "'");
            }
            return DRAFT;
        }
    }

    private static ModelResolver resolver(ModelRef target) {
        return new Registry(target);
    }

    @Test
    void aDraftIsARegistryNameOrTheTargetsFirstLayers() {
        ModelOptions.DraftChoice named = ModelOptions.draft(Options.of(Map.of("draft", "tiny-draft")),
                resolver(TARGET), "x");
        assertThat(named.layerSkip()).isFalse();
        assertThat(named.resolve(resolver(TARGET))).isEqualTo(DRAFT);
        assertThat(named.description()).isEqualTo("draft model 'tiny-draft'");
        assertThat(ModelOptions.draft(Options.of(Map.of("draft", Map.of("model", "tiny-draft"))), resolver(TARGET),
                "x").description()).isEqualTo("draft model 'tiny-draft'");
        assertThat(ModelOptions.draft(Options.of(Map.of("draft", Map.of("path", "/m/d/small.bin"))),
                resolver(TARGET), "x").description()).isEqualTo("draft model small.bin");

        ModelOptions.DraftChoice layers = ModelOptions.draft(Options.of(Map.of("draft_layers", 2)), resolver(TARGET),
                "x");
        assertThat(layers.layerSkip()).isTrue();
        assertThat(layers.description()).isEqualTo("layer-skip draft (the target's first 2 layers)");
        assertThat(layers.resolve(resolver(TARGET))).isEqualTo(new ModelRef("onnxruntime", "llama2c",
                "/m/target.bin", Options.of(Map.of("device", "cpu", "keep_layers", 2))));
    }

    @Test
    void refusalsNameTheOptionAndWhatToGive() {
        assertThatThrownBy(() -> ModelOptions.draft(Options.empty(), resolver(TARGET), "my-loop"))
                .hasMessageContaining("my-loop needs a draft model").hasMessageContaining("'draft_layers'");
        assertThatThrownBy(() -> ModelOptions.draft(Options.of(Map.of("draft", "tiny-draft", "draft_layers", 2)),
                resolver(TARGET), "my-loop")).hasMessageContaining("both name a draft model")
                .hasMessageContaining("not both");
        assertThatThrownBy(() -> ModelOptions.draft(Options.of(Map.of("draft", "other")), resolver(TARGET), "x"))
                .hasMessageContaining("no model named 'other'");
        assertThatThrownBy(() -> ModelOptions.draft(Options.of(Map.of("draft_layers", 0)), resolver(TARGET), "x"))
                .hasMessageContaining("'draft_layers' must be between 1");
        ModelOptions.DraftChoice three = ModelOptions.draft(Options.of(Map.of("draft_layers", 3)), resolver(TARGET),
                "x");
        assertThatThrownBy(() -> three.resolve(resolver(null))).hasMessageContaining("give option 'draft' instead");
        ModelRef keepsThree = new ModelRef("onnxruntime", "llama2c", "/m/t.bin", Options.of(Map.of("keep_layers", 3)));
        assertThatThrownBy(() -> three.resolve(resolver(keepsThree))).hasMessageContaining("keeps only 3 layers")
                .hasMessageContaining("at most 2");
    }

    @Test
    void aRequiredModelOptionIsResolvedOrRefusedWithItsPurpose() {
        assertThat(ModelOptions.required(Options.of(Map.of("guide", "tiny-draft")), resolver(TARGET), "guide",
                "g needs a guide model", "a causal LM")).isEqualTo(DRAFT);
        assertThatThrownBy(() -> ModelOptions.required(Options.empty(), resolver(TARGET), "guide",
                "g needs a guide model", "a causal LM"))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessage("g needs a guide model: give option 'guide', the name of a model in the installation's "
                        + "model registry (e.g. \"guide\": \"NAME\"): a causal LM");
    }
}
