package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GenerationConfigTest {
    @TempDir
    Path dir;

    @Test
    void mapsTransformersKeysToRequestOptions() throws Exception {
        Path file = dir.resolve("generation_config.json");
        Files.writeString(file, "{\"temperature\": 0.6, \"top_p\": 0.95, \"top_k\": 20, \"repetition_penalty\": 1.1,"
                + " \"max_new_tokens\": 77, \"eos_token_id\": [2, 32000], \"bos_token_id\": 1, \"do_sample\": true}");
        GenerationConfig c = GenerationConfig.read(file);
        assertThat(c.defaults().asMap()).isEqualTo(Map.of("temperature", 0.6, "top_p", 0.95, "top_k", 20,
                "repetition_penalty", 1.1, "max_tokens", 77));
        assertThat(c.stopIds()).containsExactly(2, 32000);
    }

    @Test
    void withoutSamplingTransformersDecodesGreedily() throws Exception {
        Path file = dir.resolve("generation_config.json");
        Files.writeString(file, "{\"temperature\": 0.6, \"do_sample\": false, \"eos_token_id\": 7}");
        GenerationConfig c = GenerationConfig.read(file);
        assertThat(c.defaults().asMap()).containsEntry("temperature", 0.0);
        assertThat(c.stopIds()).containsExactly(7);
    }

    @Test
    void ranksBelowThePipelineDefaultsAndTheRequest() throws Exception {
        Path file = dir.resolve("generation_config.json");
        Files.writeString(file, "{\"temperature\": 0.6, \"top_p\": 0.5, \"top_k\": 9}");
        GenerationConfig c = GenerationConfig.read(file);
        Options pipeline = Options.of(Map.of("top_p", 0.9, "top_k", 40));
        Options request = Options.of(Map.of("top_k", 3));
        // the order PipelineServiceImpl.complete merges them in
        Options merged = c.defaults().with(pipeline).with(request);
        assertThat(merged.asMap()).isEqualTo(Map.of("temperature", 0.6, "top_p", 0.9, "top_k", 3));
    }

    @Test
    void isFoundNextToTheModelThenNextToTheTokenizer() throws Exception {
        Path model = Files.createDirectories(dir.resolve("model"));
        Path tok = Files.createDirectories(dir.resolve("tok"));
        assertThat(GenerationConfig.locate(model.resolve("m.onnx").toString(), tok.resolve("t.json").toString()))
                .isNull();
        Files.writeString(tok.resolve("generation_config.json"), "{}");
        assertThat(GenerationConfig.locate(model.resolve("m.onnx").toString(), tok.resolve("t.json").toString()))
                .isEqualTo(tok.resolve("generation_config.json"));
        Files.writeString(model.resolve("generation_config.json"), "{}");
        assertThat(GenerationConfig.locate(model.resolve("m.onnx").toString(), tok.resolve("t.json").toString()))
                .isEqualTo(model.resolve("generation_config.json"));
    }

    @Test
    void aMalformedFileNamesTheKey() throws Exception {
        Path file = dir.resolve("generation_config.json");
        Files.writeString(file, "{\"eos_token_id\": \"two\"}");
        assertThatThrownBy(() -> GenerationConfig.read(file)).isInstanceOfSatisfying(ArborException.class, e -> {
            assertThat(e.kind()).isEqualTo(ArborException.Kind.BAD_MODEL);
            assertThat(e.getMessage()).contains("\"eos_token_id\" must be an id or a list of ids");
        });
    }
}
