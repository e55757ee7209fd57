package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.JsonSchema;
import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.processor.structured.StructuredOutputFactory;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.testkit.SharedModels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A real model that never saw JSON (stories260K on ONNX Runtime), plain autoregressive decoding, greedy and sampled
 * at temperature 1: every output parses and validates against its schema within the token budget.
 */
class Stories260KStructuredTest {
    @TempDir
    static Path cache;
    private static ModelBackend model;
    private static Llama2cTokenizer tokenizer;

    private static final TokenSelector ARGMAX = (logits, context) -> {
        double[] logp = SamplingMath.logSoftmax(logits);
        int best = SamplingMath.argmax(logits);
        float[] oneHot = new float[logits.length];
        oneHot[best] = 1f;
        return new Selection(best, oneHot, logp[best], Math.exp(logp[best]));
    };

    private static final TokenSelector SAMPLE = (logits, context) -> {
        double[] p = SamplingMath.softmax(logits);
        int token = SamplingMath.inverseCdf(p, context.random().nextDouble());
        return new Selection(token, SamplingMath.toFloat(p), Math.log(p[token]), p[token]);
    };

    @BeforeAll
    static void open() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        model = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString(), "device", "cpu"))));
        tokenizer = Llama2cTokenizer.read(SharedModels.require("stories260K/tok512.bin"), model.card().vocabSize());
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    @ParameterizedTest(name = "{0}, budget {1}")
    @CsvSource({"greedy, 96", "sample, 96", "sample, 40"})
    void outputsValidate(String mode, int budget) throws Exception {
        StructuredOutputFactory factory = new StructuredOutputFactory();
        Options options = Options.of(Map.of("json_schema", SamplingLoopTest.PERSON, "max_tokens", budget));
        JsonSchema validator = JsonSchemaFrontEndTest.validator(SamplingLoopTest.PERSON);
        String[] prompts = {"Once upon a time", "Lily and Ben", "The little dog", "Tom had a big red ball"};
        int runs = mode.equals("greedy") ? prompts.length : 12;
        long constrainedTokens = 0;
        for (int run = 0; run < runs; run++) {
            int[] prompt = tokenizer.encode(prompts[run % prompts.length], true);
            TokenSelector selector = mode.equals("greedy") ? ARGMAX : SAMPLE;
            GenerationResult result = new AutoregressiveGenerator().generate(new GenerationContext(model, tokenizer,
                    prompt, budget, () -> new Sampler(List.<LogitsProcessor>of(factory.create(options, tokenizer)),
                            selector), model.card().eosTokenIds(), run, Options.empty(), Cancellation.NEVER),
                    TokenSink.DISCARD);
            assertThat(result.tokens().length).isLessThanOrEqualTo(budget);
            constrainedTokens += result.tokens().length;
            String text = new String(Fixtures.bytes(tokenizer, result.tokens()), StandardCharsets.UTF_8);
            JsonNode node = JsonSchemaFrontEndTest.MAPPER.readTree(text);
            assertThat(validator.validate(node)).as("%s run %d: %s", mode, run, text).isEmpty();
        }
        assertThat(constrainedTokens).isPositive();
    }
}
