package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.pipeline.PipelineDefinition;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PipelineJsonTest {
    static final String JSON = """
            {
              "name": "p",
              "model": {"backend": "onnxruntime", "format": "llama2c", "path": "${arbor.models}/m.bin",
                        "options": {"keep_layers": 2}},
              "tokenizer": {"format": "llama2c", "path": "${arbor.models}/tok.bin"},
              "generator": {"name": "beam-search", "options": {"num_beams": 4,
                            "draft": {"path": "${arbor.models}/draft.bin", "layers": [1, "${arbor.models}"]}}},
              "processors": ["temperature", {"name": "top-p", "options": {"top_p": 0.5}}],
              "selector": "sample",
              "defaults": {"max_tokens": 12, "stop_token_ids": [1, 2]}
            }
            """;

    @Test
    void parsesPartsOptionsAndVariables() {
        PipelineDefinition d = PipelineJson.parse(JSON, "p.json", "fallback", Map.of("arbor.models", "/m")::get);
        assertThat(d.name()).isEqualTo("p");
        assertThat(d.model().path()).isEqualTo("/m/m.bin");
        assertThat(d.model().options().integer("keep_layers", 0, 0, 10)).isEqualTo(2);
        assertThat(d.generator().name()).isEqualTo("beam-search");
        assertThat(d.generator().options().integer("num_beams", 1, 1, 10)).isEqualTo(4);
        assertThat(d.generator().options().map("draft")).containsEntry("path", "/m/draft.bin")
                .containsEntry("layers", java.util.List.of(1, "/m"));
        assertThat(d.processors()).extracting(p -> p.name()).containsExactly("temperature", "top-p");
        assertThat(d.defaults().integers("stop_token_ids")).containsExactly(1, 2);
    }

    @Test
    void roundTripsThroughWrite() {
        PipelineDefinition d = PipelineJson.parse(JSON, "p.json", "fallback", Map.of("arbor.models", "/m")::get);
        PipelineDefinition again = PipelineJson.parse(PipelineJson.write(d), "again", "x", n -> null);
        assertThat(again).isEqualTo(d);
    }

    @Test
    void errorsNameTheFileAndTheProblem() {
        assertThatThrownBy(() -> PipelineJson.parse("{ \"model\": ", "etc/pipelines/bad.json", "bad", n -> ""))
                .isInstanceOf(ArborException.class).hasMessageContaining("etc/pipelines/bad.json")
                .hasMessageContaining("line");
        assertThatThrownBy(() -> PipelineJson.parse(JSON.replace("\"selector\"", "\"selektor\""), "typo.json", "t",
                n -> "")).hasMessageContaining("unknown key 'selektor'");
        assertThatThrownBy(() -> PipelineJson.parse(JSON, "p.json", "p", n -> null))
                .hasMessageContaining("${arbor.models}").hasMessageContaining("not set");
        assertThatThrownBy(() -> PipelineJson.parse("{\"model\": {}}", "m.json", "m", n -> ""))
                .hasMessageContaining("m.json");
    }

    @Test
    void refusesNestingPastTheParsersLimitWithoutANullPointerException() {
        // the parser's nesting limit reports no location; reading it used to throw a NullPointerException
        String deep = "{\"defaults\": " + "[".repeat(1_001) + "]".repeat(1_001) + "}";
        assertThatThrownBy(() -> PipelineJson.parse(deep, "etc/pipelines/deep.json", "deep", n -> ""))
                .isInstanceOfSatisfying(ArborException.class, e -> assertThat(e.kind())
                        .isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining("etc/pipelines/deep.json is not valid JSON").hasMessageContaining("nesting");
    }

    @Test
    void aModelMayBeNamedFromTheRegistry() {
        String json = JSON.replace("""
                "model": {"backend": "onnxruntime", "format": "llama2c", "path": "${arbor.models}/m.bin",
                            "options": {"keep_layers": 2}},""", "\"model\": \"tiny\",");
        dev.arbor.api.pipeline.ModelRef tiny = new dev.arbor.api.pipeline.ModelRef("djl", "llama2c", "/r/t.bin", null);
        PipelineDefinition d = PipelineJson.parse(json, "p.json", "p", Map.of("arbor.models", "/m")::get,
                name -> java.util.Optional.ofNullable(name.equals("tiny") ? tiny : null));
        assertThat(d.model()).isEqualTo(tiny);
        assertThatThrownBy(() -> PipelineJson.parse(json.replace("\"tiny\"", "\"other\""), "p.json", "p",
                Map.of("arbor.models", "/m")::get, name -> java.util.Optional.empty()))
                .hasMessageContaining("names model 'other', which the model registry");
    }

    @Test
    void aProcessorMarkedFixedIsInThePolicyAndSurvivesARoundTrip() {
        String json = """
                {"name": "f", "model": {"backend": "b", "format": "f", "path": "/m"},
                 "tokenizer": {"format": "f", "path": "/t"}, "generator": "autoregressive",
                 "processors": [{"name": "repetition-penalty", "fixed": true}, "temperature"],
                 "overrides": {"processors": ["min-p"]}}
                """;
        PipelineDefinition d = PipelineJson.parse(json, "f.json", "f", n -> null);
        assertThat(d.overrides().fixed()).containsExactly("repetition-penalty");
        assertThat(d.overrides().processors()).containsExactly("min-p");
        PipelineDefinition again = PipelineJson.parse(PipelineJson.write(d), "again", "f", n -> null);
        assertThat(again.overrides()).isEqualTo(d.overrides());
        assertThatThrownBy(() -> PipelineJson.parse(json.replace("\"fixed\": true", "\"fixed\": \"yes\""), "f.json",
                "f", n -> null)).isInstanceOf(ArborException.class).hasMessageContaining("must be true or false");
    }
}
