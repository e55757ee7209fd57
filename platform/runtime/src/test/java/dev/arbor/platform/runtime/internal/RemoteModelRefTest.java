package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A model served by another process: {@code "url"} in place of {@code "path"}, in pipeline and registry files. */
class RemoteModelRefTest {
    @TempDir
    Path etc;

    @Test
    void aPipelineModelWithAUrlCarriesItAsItsLocationAndItsBackendsOption() {
        PipelineDefinition d = PipelineJson.parse("""
                {"model": {"backend": "remote", "url": "grpc://${host}:8033/arbor-tiny-ar",
                           "options": {"forward_timeout_ms": 5000}},
                 "tokenizer": {"format": "llama2c", "path": "/t.bin"}, "generator": "autoregressive"}
                """, "p.json", "p", Map.of("host", "127.0.0.1")::get);
        ModelRef m = d.model();
        assertThat(m.backend()).isEqualTo("remote");
        assertThat(m.format()).isEqualTo("oip");
        assertThat(m.path()).isEqualTo("grpc://127.0.0.1:8033/arbor-tiny-ar");
        assertThat(m.options().asMap()).containsEntry("url", "grpc://127.0.0.1:8033/arbor-tiny-ar")
                .containsEntry("forward_timeout_ms", 5000);
        PipelineDefinition again = PipelineJson.parse(PipelineJson.write(d), "again", "p", n -> null);
        assertThat(again.model()).isEqualTo(m);
    }

    @Test
    void aRegistryModelMayBeRemoteButNotBothAFileAndAUrl() throws Exception {
        Path models = Files.createDirectories(etc.resolve("models"));
        Files.writeString(models.resolve("far.json"), """
                {"backend": "remote", "url": "grpc://10.0.0.7:8033/big", "description": "on the GPU node"}
                """);
        Files.writeString(models.resolve("both.json"), """
                {"backend": "remote", "url": "grpc://h:1/m", "path": "/m.bin", "format": "oip"}
                """);
        ModelRegistry registry = new ModelRegistry(models, n -> null);
        assertThat(registry.resolve("far").path()).isEqualTo("grpc://10.0.0.7:8033/big");
        assertThat(registry.resolve("far").options().asMap()).containsEntry("url", "grpc://10.0.0.7:8033/big");
        assertThatThrownBy(() -> registry.resolve("both")).hasMessageContaining("registry entry is broken");
        assertThatThrownBy(() -> PipelineJson.modelRef("{\"backend\": \"remote\", \"url\": \"grpc://h:1/m\","
                + " \"path\": \"/m.bin\"}", "m.json", n -> null))
                .hasMessageContaining("gives both \"path\" and \"url\"");
    }
}
