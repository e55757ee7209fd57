package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.networknt.schema.JsonSchema;
import dev.arbor.api.Options;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.processor.structured.StructuredOutputFactory;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * 1,000 sampled outputs per constraint and budget with the real tok512 tokenizer and random logits (Gaussian rows
 * with a random scale per run, like logits at a random temperature): every output is valid, and complete when the
 * budget ends (budget forcing), and no run takes more tokens than the budget.
 */
class SamplingLoopTest {
    static final String PERSON = """
            {"type": "object", "properties": {
               "name": {"type": "string", "minLength": 1, "maxLength": 20},
               "age": {"type": "integer", "minimum": 0, "maximum": 150},
               "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 4},
               "ok": {"type": "boolean"}},
             "required": ["name", "age"]}""";
    static final String TREE = """
            {"$defs": {"node": {"type": "object", "properties": {
                "v": {"type": ["integer", "null"]},
                "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
              "required": ["v"]}},
             "$ref": "#/$defs/node"}""";
    static final String EVENT = """
            {"type": "object", "properties": {
               "kind": {"enum": ["start", "stop", "pause"]},
               "at": {"type": "string", "format": "date-time"},
               "id": {"type": "string", "pattern": "^[a-f0-9]{4}-[A-Z]{2}$"},
               "extra": {"type": "object"}},
             "required": ["kind", "at", "id"], "additionalProperties": false}""";
    static final String REGEX = "(Once|One day) [a-z]{1,10}( [a-z]{1,10}){0,6}, (she|he) (said|saw) \"[A-Za-z ,!]{0,40}\"\\.";
    static final String ARITHMETIC = """
            root ::= expr
            expr ::= term (" "? [-+*/] " "? term)*
            term ::= "-"? [0-9]{1,6} | "(" expr ")"
            """;

    @ParameterizedTest(name = "{0} budget {1}")
    @CsvSource({"person,64", "person,256", "tree,64", "tree,256", "event,64", "event,256", "regex,64", "regex,256",
        "gbnf,64", "gbnf,256"})
    void everySampledOutputIsValidAndWithinBudget(String name, int budget) throws Exception {
        Tokenizer tok = Fixtures.tok512();
        Options options;
        Predicate<String> valid;
        switch (name) {
            case "person", "tree", "event" -> {
                String schema = name.equals("person") ? PERSON : name.equals("tree") ? TREE : EVENT;
                options = Options.of(Map.of("json_schema", schema, "max_tokens", budget));
                JsonSchema validator = JsonSchemaFrontEndTest.validator(schema);
                valid = text -> {
                    try {
                        JsonNode node = JsonSchemaFrontEndTest.MAPPER.readTree(text);
                        return validator.validate(node).isEmpty();
                    } catch (Exception e) {
                        return false;
                    }
                };
            }
            case "regex" -> {
                options = Options.of(Map.of("regex", REGEX, "max_tokens", budget));
                Pattern p = Pattern.compile(REGEX);
                valid = text -> p.matcher(text).matches();
            }
            default -> {
                options = Options.of(Map.of("grammar", ARITHMETIC, "max_tokens", budget));
                valid = Arithmetic::valid;
            }
        }
        StructuredOutputFactory factory = new StructuredOutputFactory();
        int eos = tok.eosTokenId().orElseThrow();
        float[] logits = new float[tok.vocabSize()];
        int endedByEos = 0;
        for (int run = 0; run < 1000; run++) {
            LogitsProcessor p = factory.create(options, tok);
            SplittableRandom random = new SplittableRandom(run * 7919L + budget);
            double scale = 0.5 + 4.5 * random.nextDouble();
            SamplingContext ctx = SamplingContext.seeded(new int[] {1}, tok.vocabSize(), run);
            boolean eosSeen = false;
            for (int step = 0; step < budget; step++) {
                for (int i = 0; i < logits.length; i++) {
                    logits[i] = (float) (random.nextGaussian() * scale);
                }
                p.process(logits, ctx);
                int token = Sampling.sample(logits, random);
                if (token == eos) {
                    eosSeen = true;
                    break;
                }
                ctx.append(token);
            }
            endedByEos += eosSeen ? 1 : 0;
            assertThat(ctx.generatedLength()).isLessThanOrEqualTo(budget);
            String text = new String(Fixtures.bytes(tok, ctx.generated()), StandardCharsets.UTF_8);
            assertThat(valid.test(text)).as("run %d (%d tokens): %s", run, ctx.generatedLength(), text).isTrue();
        }
        assertThat(endedByEos).as("runs that ended by EOS").isPositive();
    }

    /** The same with GPT-2's byte-level vocabulary (50,295 tokens, multi-byte tokens, every byte a token). */
    @ParameterizedTest(name = "gpt2 {0} budget {1}")
    @CsvSource({"person,48", "tree,32"})
    void gpt2OutputsAreValidAndWithinBudget(String name, int budget) throws Exception {
        Tokenizer tok = Fixtures.gpt2();
        String schema = name.equals("person") ? PERSON : TREE;
        Options options = Options.of(Map.of("json_schema", schema, "max_tokens", budget));
        JsonSchema validator = JsonSchemaFrontEndTest.validator(schema);
        StructuredOutputFactory factory = new StructuredOutputFactory();
        int eos = tok.eosTokenId().orElseThrow();
        float[] logits = new float[tok.vocabSize()];
        for (int run = 0; run < 60; run++) {
            LogitsProcessor p = factory.create(options, tok);
            SplittableRandom random = new SplittableRandom(run);
            SamplingContext ctx = SamplingContext.seeded(new int[] {50256}, tok.vocabSize(), run);
            for (int step = 0; step < budget; step++) {
                for (int i = 0; i < logits.length; i++) {
                    logits[i] = (float) (random.nextGaussian() * 2);
                }
                p.process(logits, ctx);
                int token = Sampling.sample(logits, random);
                if (token == eos) {
                    break;
                }
                ctx.append(token);
            }
            String text = new String(Fixtures.bytes(tok, ctx.generated()), StandardCharsets.UTF_8);
            JsonNode node = JsonSchemaFrontEndTest.MAPPER.readTree(text);
            assertThat(validator.validate(node)).as("run %d: %s", run, text).isEmpty();
        }
    }

    /** An independent recursive-descent check of the ARITHMETIC grammar. */
    static final class Arithmetic {
        private final String s;
        private int i;

        private Arithmetic(String s) {
            this.s = s;
        }

        static boolean valid(String s) {
            Arithmetic a = new Arithmetic(s);
            return a.expr() && a.i == s.length();
        }

        private boolean expr() {
            if (!term()) {
                return false;
            }
            while (true) {
                int save = i;
                skipSpace();
                if (i < s.length() && "-+*/".indexOf(s.charAt(i)) >= 0) {
                    i++;
                    skipSpace();
                    if (!term()) {
                        return false;
                    }
                } else {
                    i = save;
                    return true;
                }
            }
        }

        private void skipSpace() {
            if (i < s.length() && s.charAt(i) == ' ') {
                i++;
            }
        }

        private boolean term() {
            if (i < s.length() && s.charAt(i) == '(') {
                i++;
                if (!expr() || i >= s.length() || s.charAt(i) != ')') {
                    return false;
                }
                i++;
                return true;
            }
            if (i < s.length() && s.charAt(i) == '-') {
                i++;
            }
            int start = i;
            while (i < s.length() && Character.isDigit(s.charAt(i)) && i - start < 6) {
                i++;
            }
            return i > start && (i >= s.length() || !Character.isDigit(s.charAt(i)));
        }
    }
}
