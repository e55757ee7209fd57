package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.pipeline.PartPolicy;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TokenizerRef;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * {@code response_format} and {@code arbor.regex} / {@code arbor.grammar}: what each becomes (the structured-output
 * processor first in the request's chain, the pipeline's chain after it by name) and the 400 each bad value gets,
 * naming the field in {@code param}.
 */
class ResponseFormatTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final PipelineDefinition PIPELINE = pipeline(List.of("min-p", "structured-output"));

    private static PipelineDefinition pipeline(List<String> allowed) {
        return new PipelineDefinition("p", "", new ModelRef("onnxruntime", "llama2c", "/m.bin", Options.empty()),
                new TokenizerRef("llama2c", "/t.bin", Options.empty()), PartRef.of("autoregressive"),
                List.of(PartRef.of("repetition-penalty"), new PartRef("watermark-greenlist",
                        Options.of(Map.of("hashing_key", "15485863"))), PartRef.of("temperature")),
                PartRef.of("sample"), List.of(), Options.empty(), new PartPolicy(List.of(), allowed, List.of()));
    }

    private static OpenAiRequest parse(String body) throws Exception {
        JsonNode json = MAPPER.readTree(body.replace('\'', '"'));
        return OpenAiRequest.parse(json, true);
    }

    private static CompletionRequest run(String extra, PipelineDefinition d, int maxTokens) throws Exception {
        OpenAiRequest r = parse("{'model': 'p', 'messages': [{'role': 'user', 'content': 'hi'}]" + extra + "}");
        return ResponseFormat.apply(r, new PipelineStatus("p", true, List.of(), d), maxTokens, 1_000)
                .toCompletionRequest(0, Map.of());
    }

    @Test
    void jsonSchemaBecomesTheFirstProcessorAndThePipelinesChainFollowsByName() throws Exception {
        CompletionRequest c = run(", 'response_format': {'type': 'json_schema', 'json_schema': {'name': 'person',"
                + " 'strict': true, 'schema': {'type': 'object', 'properties': {'age': {'type': 'integer'}}}}}",
                PIPELINE, 40);
        assertThat(c.processors()).extracting(PartRef::name).containsExactly("structured-output",
                "repetition-penalty", "watermark-greenlist", "temperature");
        Options constraint = c.processors().get(0).options();
        assertThat(MAPPER.readTree(constraint.string("json_schema", null))).isEqualTo(MAPPER.readTree(
                "{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"integer\"}}}"));
        assertThat(constraint.integer("max_tokens", 0, 0, 1000)).isEqualTo(40);
        assertThat(constraint.asMap()).hasSize(2);
        // the fixed watermark is named back without options: the platform gives it the operator's
        assertThat(c.processors().get(2).options().asMap()).isEmpty();
    }

    @Test
    void jsonObjectRegexAndGrammarMapToTheirOptions() throws Exception {
        assertThat(run(", 'response_format': {'type': 'json_object'}", PIPELINE, 9).processors().get(0).options()
                .asMap()).containsEntry("json_object", true);
        assertThat(run(", 'arbor': {'regex': '[0-9]{3}'}", PIPELINE, 9).processors().get(0).options().asMap())
                .containsEntry("regex", "[0-9]{3}");
        assertThat(run(", 'arbor': {'grammar': 'root ::= [0-9]+'}", PIPELINE, 9).processors()
                .get(0).options().string("grammar", null)).contains("root ::=");
        // a request's own chain follows the constraint as it was given
        CompletionRequest own = run(", 'response_format': {'type': 'json_object'}, 'arbor': {'processors':"
                + " ['repetition-penalty', 'watermark-greenlist', {'name': 'min-p', 'options': {'min_p': 0.1}}]}",
                PIPELINE, 9);
        assertThat(own.processors()).extracting(PartRef::name).containsExactly("structured-output",
                "repetition-penalty", "watermark-greenlist", "min-p");
    }

    @Test
    void textOrNothingLeavesTheChainAlone() throws Exception {
        assertThat(run(", 'response_format': {'type': 'text'}", PIPELINE, 9).processors()).isNull();
        assertThat(run("", PIPELINE, 9).processors()).isNull();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "'response_format': 'json'| response_format| must be an object",
        "'response_format': {}| response_format.type| must be one of",
        "'response_format': {'type': 'xml'}| response_format.type| must be one of",
        "'response_format': {'type': 'json_schema'}| response_format.json_schema| needs",
        "'response_format': {'type': 'json_schema', 'json_schema': {'schema': {}}}| response_format.json_schema.name| 1 to 64",
        "'response_format': {'type': 'json_schema', 'json_schema': {'name': 'a b', 'schema': {}}}| response_format.json_schema.name| 1 to 64",
        "'response_format': {'type': 'json_schema', 'json_schema': {'name': 'x', 'schema': 'string'}}| response_format.json_schema.schema| JSON Schema object",
        "'response_format': {'type': 'json_schema', 'json_schema': {'name': 'x', 'schema': {}, 'strict': 'yes'}}| response_format.json_schema.strict| true or false",
        "'arbor': {'regex': 5}| arbor.regex| non-empty string",
        "'arbor': {'grammar': ''}| arbor.grammar| non-empty string",
        "'arbor': {'regex': 'a', 'grammar': 'root ::= [a]'}| arbor.grammar| at most one",
        "'response_format': {'type': 'json_object'}, 'arbor': {'regex': 'a'}| arbor.regex| both constrain",
    })
    void badValuesAreRefusedNamingTheField(String field, String param, String message) {
        assertThatThrownBy(() -> parse("{'model': 'p', 'messages': [{'role': 'user', 'content': 'hi'}], " + field
                + "}")).isInstanceOfSatisfying(ApiError.class, e -> {
                    assertThat(e.status).isEqualTo(400);
                    assertThat(e.param).isEqualTo(param);
                    assertThat(e.getMessage()).contains(message);
                });
    }

    @Test
    void sizeAllowListAndDuplicatesAreChecked() {
        String big = "x".repeat(1_001);
        assertThatThrownBy(() -> run(", 'arbor': {'regex': '" + big + "'}", PIPELINE, 9))
                .isInstanceOfSatisfying(ApiError.class, e -> {
                    assertThat(e.param).isEqualTo("arbor.regex");
                    assertThat(e.getMessage()).contains("1001 bytes, more than this server's limit of 1000")
                            .contains("max_constraint_bytes");
                });
        assertThatThrownBy(() -> run(", 'response_format': {'type': 'json_object'}", pipeline(List.of("min-p")), 9))
                .isInstanceOfSatisfying(ApiError.class, e -> {
                    assertThat(e.param).isEqualTo("response_format");
                    assertThat(e.getMessage()).contains("pipeline 'p' does not offer structured outputs")
                            .contains("overrides.processors");
                });
        assertThatThrownBy(() -> run(", 'response_format': {'type': 'json_object'}, 'arbor': {'processors':"
                + " ['structured-output']}", PIPELINE, 9)).isInstanceOfSatisfying(ApiError.class,
                e -> assertThat(e.getMessage()).contains("give the constraint once"));
        assertThat(ServerSettings.from(Map.of()).maxConstraintBytes()).isEqualTo(65_536);
        assertThat(ServerSettings.from(Map.of("max_constraint_bytes", "100")).maxConstraintBytes()).isEqualTo(100);
    }
}
