package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.pipeline.ModelRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelRegistryTest {
    @TempDir
    Path etc;

    private ModelRegistry registry() throws Exception {
        Path models = Files.createDirectories(etc.resolve("models"));
        Files.writeString(models.resolve("tiny-draft.json"), """
                {"backend": "onnxruntime", "format": "llama2c", "path": "${arbor.models}/draft.bin",
                 "options": {"device": "cpu"}, "description": "a draft"}
                """);
        Files.writeString(models.resolve("broken.json"), "{\"backend\": \"onnxruntime\"}");
        return new ModelRegistry(models, Map.of("arbor.models", "/m")::get);
    }

    @Test
    void aDeclaredNameResolvesToTheOperatorsReferenceWithVariables() throws Exception {
        ModelRef ref = registry().resolve("tiny-draft");
        assertThat(ref.path()).isEqualTo("/m/draft.bin");
        assertThat(ref.backend()).isEqualTo("onnxruntime");
        assertThat(ref.options().string("device", null)).isEqualTo("cpu");
    }

    @Test
    void anUnknownNameIsInvalidAndListsTheDeclaredModels() throws Exception {
        assertThatThrownBy(() -> registry().resolve("nope"))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining("no model named 'nope'").hasMessageContaining("declared models: tiny-draft");
    }

    @Test
    void aNameThatLooksLikeAPathIsJustAnUnknownName() throws Exception {
        ModelRegistry r = registry();
        Files.writeString(etc.resolve("secret.json"), "{\"backend\": \"x\", \"format\": \"y\", \"path\": \"/z\"}");
        for (String name : new String[] {"../secret", "/etc/shadow", "..", "tiny-draft/../../secret"}) {
            assertThat(r.find(name)).isEmpty();
            assertThatThrownBy(() -> r.resolve(name)).hasMessageContaining("declared models: tiny-draft")
                    .hasMessageNotContaining("exist");
        }
    }

    @Test
    void aBrokenEntryIsReportedWithoutItsContents() throws Exception {
        assertThatThrownBy(() -> registry().resolve("broken"))
                .hasMessageContaining("model 'broken' is declared but its registry entry is broken")
                .hasMessageNotContaining("onnxruntime\"");
    }

    @Test
    void anEditedEntryIsReReadAndANewOneAppears() throws Exception {
        ModelRegistry r = registry();
        assertThat(r.names()).containsOnlyKeys("tiny-draft");
        Path file = etc.resolve("models/second.json");
        Files.writeString(file, "{\"backend\": \"djl\", \"format\": \"llama2c\", \"path\": \"/s.bin\"}");
        assertThat(r.names()).containsOnlyKeys("tiny-draft", "second");
        assertThat(r.resolve("second").backend()).isEqualTo("djl");
    }
}
