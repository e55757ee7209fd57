package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.models.ResponseFormatJsonSchema;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.testkit.SharedModels;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Hashtable;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * Structured outputs in the assembled runtime, on {@code stories260K}, a model that never saw JSON: for each of four
 * configurations (autoregressive and speculative decoding, temperature 0 and 1) 100 outputs under five JSON schemas
 * (a nested object, an array with bounds, enums, number/integer/boolean/null, a {@code $ref}) with different prompts
 * and seeds all parse with Jackson, validate against their schema (networknt's JSON Schema validator) and stay within
 * {@code max_tokens}; greedy speculative outputs equal greedy autoregressive ones. Autoregressive sampling goes over HTTP with OpenAI's {@code response_format}, one call through
 * the official {@code openai-java} client; the others through {@link PipelineService} with the chain the HTTP layer
 * builds. Also: a watermarked pipeline still watermarks under a constraint, and strategies that commit out of order
 * are refused naming both parts, at configuration (a diffusion pipeline) and per request.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StructuredOutputIT {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final String WATERMARK_KEY = "777001";
    private static final int PER_CONFIGURATION = 100;
    private static final int MAX_TOKENS = 64;
    private static final List<String> PROMPTS = List.of("Once upon a time", "Tom had a red ball", "The cat sat",
            "Lily went to the park", "One day, a little bird", "Sam and his mom", "There was a big tree",
            "The sun was hot", "A girl named Sue", "The dog ran fast", "Ben liked to play", "In a small house",
            "The boy saw a frog", "Mia found a box", "It was a rainy day", "The fish swam", "Max wanted a cake",
            "Anna had a doll", "The car was blue", "A bear lived in the woods");

    /** Name and schema text; each keyword family the issue names is in one of them. */
    static final Map<String, String> SCHEMAS = new LinkedHashMap<>();

    static {
        SCHEMAS.put("nested", """
                {"type": "object", "properties": {
                  "name": {"type": "string", "maxLength": 12},
                  "home": {"type": "object", "properties": {
                    "city": {"type": "string", "maxLength": 10}, "floor": {"type": "integer"}},
                    "required": ["city", "floor"], "additionalProperties": false}},
                 "required": ["name", "home"], "additionalProperties": false}""");
        SCHEMAS.put("bounded_array", """
                {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 4}""");
        SCHEMAS.put("enums", """
                {"type": "object", "properties": {
                  "mood": {"enum": ["happy", "sad", "sleepy"]},
                  "color": {"type": "string", "enum": ["red", "blue"]}},
                 "required": ["mood", "color"], "additionalProperties": false}""");
        SCHEMAS.put("scalars", """
                {"type": "object", "properties": {
                  "n": {"type": "number"}, "i": {"type": "integer"}, "b": {"type": "boolean"}, "z": {"type": "null"}},
                 "required": ["n", "i", "b", "z"], "additionalProperties": false}""");
        SCHEMAS.put("ref", """
                {"$defs": {"pet": {"type": "object", "properties": {
                   "kind": {"enum": ["cat", "dog"]}, "age": {"type": "integer"}},
                   "required": ["kind", "age"], "additionalProperties": false}},
                 "type": "object", "properties": {
                   "owner": {"type": "string", "maxLength": 8},
                   "pets": {"type": "array", "items": {"$ref": "#/$defs/pet"}, "maxItems": 2}},
                 "required": ["owner", "pets"], "additionalProperties": false}""");
    }

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Map<String, JsonSchema> validators = new LinkedHashMap<>();
    private Path home;
    private RuntimeHarness runtime;
    private PipelineService pipelines;
    private URI uri;

    @BeforeAll
    void start() throws Exception {
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        home = Files.createTempDirectory("arbor-structured-it-");
        // the diffusion pipeline names its model relative to the installation (${arbor.home}): link its models here
        Path dist = Path.of(System.getProperty("arbor.dist", "target/arbor")).toAbsolutePath();
        Files.createSymbolicLink(home.resolve("models"), dist.resolve("models"));
        runtime = new RuntimeHarness(home, models, Map.of("arbor.watermark.key", WATERMARK_KEY));
        pipelines = runtime.pipelines();
        for (String p : List.of("stories260k", "stories260k-speculative", "stories260k-watermarked")) {
            runtime.awaitReady(p);
        }
        JsonSchemaFactory factory = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);
        SCHEMAS.forEach((name, text) -> validators.put(name, factory.getSchema(text)));
        Hashtable<String, Object> config = new Hashtable<>();
        config.put("port", 0);
        config.put("request_timeout_ms", 60_000);
        uri = runtime.startHttp(config);
    }

    @AfterAll
    void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
        RuntimeHarness.deleteTree(home);
    }

    private HttpResponse<String> post(String path, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(uri.resolve(path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** One case of a configuration: schema, prompt and seed. */
    private record Case(String schema, String prompt, long seed) {
    }

    /** 100 cases: every schema with 20 prompts (so temperature 0 gives 100 different requests), seeds 0..99. */
    private static List<Case> cases() {
        List<Case> out = new ArrayList<>();
        List<String> names = List.copyOf(SCHEMAS.keySet());
        for (int i = 0; i < PER_CONFIGURATION; i++) {
            out.add(new Case(names.get(i % names.size()), PROMPTS.get(i / names.size() % PROMPTS.size()), i));
        }
        return out;
    }

    /** The output parses, validates against its schema and used at most the budget; returns it parsed. */
    private JsonNode check(String configuration, Case c, String text, int tokens) throws Exception {
        assertThat(tokens).as("%s %s: tokens", configuration, c).isLessThanOrEqualTo(MAX_TOKENS);
        JsonNode value;
        try {
            value = MAPPER.readTree(text);
        } catch (Exception e) {
            throw new AssertionError(configuration + " " + c + ": not JSON: " + text, e);
        }
        Set<ValidationMessage> errors = validators.get(c.schema()).validate(value);
        assertThat(errors).as("%s %s: %s is invalid", configuration, c, text).isEmpty();
        return value;
    }

    /** The chain the HTTP layer builds for response_format: the constraint first, the pipeline's chain by name. */
    private List<PartRef> chain(String pipeline, String schema) {
        List<PartRef> chain = new ArrayList<>(List.of(new PartRef("structured-output", Options.of(Map.of(
                "json_schema", SCHEMAS.get(schema), "max_tokens", MAX_TOKENS)))));
        pipelines.status(pipeline).orElseThrow().definition().processors()
                .forEach(p -> chain.add(PartRef.of(p.name())));
        return chain;
    }

    /** Runs the 100 cases of a configuration through the service, checks each and returns the texts. */
    private List<String> runThroughTheService(String configuration, String pipeline, double temperature)
            throws Exception {
        List<String> texts = new ArrayList<>();
        long start = System.nanoTime();
        long tokens = 0;
        double acceptance = 0;
        Map<String, String> examples = new LinkedHashMap<>();
        for (Case c : cases()) {
            Completion done = pipelines.complete(new CompletionRequest(pipeline, c.prompt(), null, List.of(), null,
                    chain(pipeline, c.schema()), Options.of(Map.of("temperature", temperature, "seed", c.seed(),
                    "max_tokens", MAX_TOKENS))), TextSink.DISCARD);
            check(configuration, c, done.text(), done.tokens().length);
            tokens += done.tokens().length;
            acceptance += ((Number) done.stats().getOrDefault("speculative.acceptance_rate", 0.0)).doubleValue();
            examples.putIfAbsent(c.schema(), done.text());
            texts.add(done.text());
        }
        System.out.printf("structured outputs, %s: %d of %d valid, %d tokens, mean acceptance rate %.2f, %.1f s%n",
                configuration, PER_CONFIGURATION, PER_CONFIGURATION, tokens, acceptance / PER_CONFIGURATION,
                (System.nanoTime() - start) / 1e9);
        examples.forEach((schema, text) -> System.out.printf("  %s: %s%n", schema, text));
        return texts;
    }

    @Test
    void speculativeGreedyOutputsAllValidateAndEqualAutoregressiveGreedy() throws Exception {
        List<String> speculative = runThroughTheService("speculative, temperature 0", "stories260k-speculative", 0.0);
        // the constraint is part of the target distribution: greedy speculative decoding is greedy decoding
        assertThat(speculative).isEqualTo(runThroughTheService("autoregressive, temperature 0", "stories260k", 0.0));
    }

    @Test
    void speculativeSampledOutputsAllValidate() throws Exception {
        runThroughTheService("speculative, temperature 1", "stories260k-speculative", 1.0);
    }

    @Test
    void autoregressiveSampledOutputsOverHttpWithResponseFormatAllValidate() throws Exception {
        long start = System.nanoTime();
        for (Case c : cases()) {
            String body = MAPPER.writeValueAsString(Map.of("model", "stories260k", "messages", List.of(Map.of(
                    "role", "user", "content", c.prompt())), "temperature", 1.0, "seed", c.seed(),
                    "max_completion_tokens", MAX_TOKENS, "response_format", Map.of("type", "json_schema",
                            "json_schema", Map.of("name", c.schema(), "strict", true,
                                    "schema", MAPPER.readTree(SCHEMAS.get(c.schema()))))));
            HttpResponse<String> response = post("/v1/chat/completions", body);
            assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
            JsonNode answer = MAPPER.readTree(response.body());
            check("autoregressive, temperature 1, HTTP", c, answer.at("/choices/0/message/content").asText(),
                    answer.at("/usage/completion_tokens").asInt());
        }
        System.out.printf("structured outputs, autoregressive, temperature 1, HTTP: %d of %d valid, %.1f s%n",
                PER_CONFIGURATION, PER_CONFIGURATION, (System.nanoTime() - start) / 1e9);
    }

    @Test
    void theOfficialOpenAiClientSendsResponseFormat() throws Exception {
        OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(uri + "/v1").apiKey("unused").build();
        ResponseFormatJsonSchema.JsonSchema.Schema.Builder schema = ResponseFormatJsonSchema.JsonSchema.Schema
                .builder();
        MAPPER.readTree(SCHEMAS.get("ref")).fields().forEachRemaining(f -> schema.putAdditionalProperty(f.getKey(),
                JsonValue.from(MAPPER.convertValue(f.getValue(), Object.class))));
        ChatCompletion completion = client.chat().completions().create(ChatCompletionCreateParams.builder()
                .model("stories260k").addUserMessage("Once upon a time").temperature(1.0).seed(3)
                .maxCompletionTokens(MAX_TOKENS).responseFormat(ResponseFormatJsonSchema.builder()
                        .jsonSchema(ResponseFormatJsonSchema.JsonSchema.builder().name("pets").strict(true)
                                .schema(schema.build()).build()).build()).build());
        String text = completion.choices().get(0).message().content().orElseThrow();
        check("openai-java", new Case("ref", "Once upon a time", 3), text,
                (int) completion.usage().orElseThrow().completionTokens());
    }

    @Test
    void aWatermarkedPipelineStillWatermarksUnderAConstraint() throws Exception {
        StringBuilder marked = new StringBuilder();
        StringBuilder plain = new StringBuilder();
        for (int seed = 0; seed < 3; seed++) {
            for (String pipeline : List.of("stories260k-watermarked", "stories260k")) {
                String body = MAPPER.writeValueAsString(Map.of("model", pipeline, "prompt", "Once upon a time",
                        "temperature", 1.0, "top_p", 1.0, "seed", seed, "max_tokens", 200,
                        "arbor", Map.of("regex", "[^{}<>]*")));
                HttpResponse<String> response = post("/v1/completions", body);
                assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
                String text = MAPPER.readTree(response.body()).at("/choices/0/text").asText();
                assertThat(text).doesNotContain("{", "}", "<", ">");
                (pipeline.equals("stories260k") ? plain : marked).append(text).append(' ');
            }
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> onMarked = (Map<String, Object>) pipelines.analyze("stories260k-watermarked",
                marked.toString(), Options.empty()).annotations().get("watermark");
        @SuppressWarnings("unchecked")
        Map<String, Object> onPlain = (Map<String, Object>) pipelines.analyze("stories260k-watermarked",
                plain.toString(), Options.empty()).annotations().get("watermark");
        assertThat(onMarked.get("detected")).as("constrained watermarked text: %s", onMarked).isEqualTo(true);
        assertThat(onPlain.get("detected")).as("constrained plain text: %s", onPlain).isEqualTo(false);
    }

    @Test
    void strategiesThatCommitOutOfOrderAreRefusedNamingBothParts() throws Exception {
        // at configuration: a diffusion pipeline with a constraint in its chain is not stored
        PipelineDefinition mdlm = runtime.awaitReady("arbor-tiny-mdlm").definition();
        List<PartRef> constrained = new ArrayList<>(List.of(new PartRef("structured-output",
                Options.of(Map.of("json_object", true)))));
        constrained.addAll(mdlm.processors());
        assertThatThrownBy(() -> pipelines.define(new PipelineDefinition("mdlm-json", "", mdlm.model(),
                mdlm.tokenizer(), mdlm.generator(), constrained, mdlm.selector(), mdlm.postProcessors(),
                mdlm.defaults(), mdlm.overrides()))).isInstanceOfSatisfying(ArborException.class, e -> {
                    assertThat(e.kind()).as(e.getMessage()).isEqualTo(ArborException.Kind.INCOMPATIBLE);
                    assertThat(e.getMessage()).contains("pipeline 'mdlm-json': generator '"
                            + mdlm.generator().name() + "' cannot be combined with logits processor"
                            + " 'structured-output'").contains("out of order");
                });
        assertThat(pipelines.status("mdlm-json")).isEmpty();
        // per request: a generator the pipeline allows but that does not commit in order, 400 naming both
        HttpResponse<String> refused = post("/v1/chat/completions", MAPPER.writeValueAsString(Map.of(
                "model", "stories260k", "messages", List.of(Map.of("role", "user", "content", "Hi")),
                "response_format", Map.of("type", "json_object"), "arbor", Map.of("generator",
                        "grouped-speculative"))));
        assertThat(refused.statusCode()).isEqualTo(400);
        assertThat(MAPPER.readTree(refused.body()).at("/error/message").asText())
                .contains("generator 'grouped-speculative' cannot be combined with logits processor"
                        + " 'structured-output'")
                .contains("autoregressive", "speculative");
    }
}
