package dev.arbor.platform.admin.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.PartRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PipelineFilesTest {
    @TempDir
    Path folder;

    @Test
    void findsAPipelineByItsDeclaredNameElseItsFileName() throws Exception {
        Files.writeString(folder.resolve("a.json"), "{\"name\": \"declared\", \"generator\": \"autoregressive\"}");
        Files.writeString(folder.resolve("plain.json"), "{\"generator\": \"autoregressive\"}");
        Files.writeString(folder.resolve("broken.json"), "{");
        PipelineFiles files = new PipelineFiles(folder);
        assertThat(files.fileOf("declared")).contains(folder.resolve("a.json"));
        assertThat(files.fileOf("plain")).contains(folder.resolve("plain.json"));
        assertThat(files.fileOf("a")).isEmpty();
        assertThat(files.fileOf("broken")).isEmpty();
    }

    @Test
    void rewritesOnlyTheGeneratorKeepingVariablesOrderAndPermissions() throws Exception {
        Path file = folder.resolve("p.json");
        Files.writeString(file, "{\"name\": \"p\", \"model\": {\"path\": \"${arbor.models}/m.bin\"},"
                + " \"generator\": \"autoregressive\", \"selector\": \"sample\"}");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r-----"));
        PipelineFiles files = new PipelineFiles(folder);

        files.writeGenerator(file, new PartRef("beam-search", Options.of(Map.of("num_beams", 4))));
        JsonNode root = new ObjectMapper().readTree(file.toFile());
        assertThat(root.get("generator").get("name").asText()).isEqualTo("beam-search");
        assertThat(root.get("generator").get("options").get("num_beams").asInt()).isEqualTo(4);
        assertThat(root.get("model").get("path").asText()).isEqualTo("${arbor.models}/m.bin");
        assertThat(root.fieldNames()).toIterable().containsExactly("name", "model", "generator", "selector");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-r-----");
        try (var left = Files.list(folder)) {
            assertThat(left).as("no temporary file left behind").containsExactly(file);
        }

        files.writeGenerator(file, PartRef.of("autoregressive"));
        assertThat(new ObjectMapper().readTree(file.toFile()).get("generator").asText()).isEqualTo("autoregressive");
    }
}
