package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.processor.structured.StructuredOutputFactory;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The factory's contract: options, refusals, traits, and greedy/sampled outputs that match. */
class ProcessorSmokeTest {
    private static final StructuredOutputFactory SHARED = new StructuredOutputFactory();
    private final StructuredOutputFactory factory = new StructuredOutputFactory();

    @Test
    void refusesNoneOrSeveralConstraintsAndANullTokenizer() {
        Tokenizer tok = Fixtures.tok512();
        assertThatThrownBy(() -> factory.create(Options.empty(), tok)).isInstanceOf(ArborException.class)
                .hasMessageContaining("exactly one of the options json_schema, json_object, regex, grammar");
        assertThatThrownBy(() -> factory.create(Options.of(Map.of("regex", "a", "grammar", "root ::= \"a\"")), tok))
                .hasMessageContaining("got regex and grammar");
        assertThatThrownBy(() -> factory.create(Options.of(Map.of("regex", "a")), null))
                .hasMessageContaining("needs the pipeline's tokenizer");
        assertThatThrownBy(() -> factory.create(Options.of(Map.of("regex", "a"))))
                .hasMessageContaining("needs the pipeline's tokenizer");
        assertThatThrownBy(() -> factory.create(Options.of(Map.of("regex", 5)), tok))
                .hasMessageContaining("option 'regex' must be text");
        assertThatThrownBy(() -> factory.create(Options.of(Map.of("regex", "a", "max_tokens", 0)), tok))
                .hasMessageContaining("max_tokens");
        assertThatThrownBy(() -> factory.create(Options.of(Map.of("regex", "x{100}", "max_tokens", 3)), tok))
                .hasMessageContaining("shortest output").hasMessageContaining("raise max_tokens");
        assertThat(factory.traits()).containsExactlyInAnyOrder(Trait.CONSTRAINS_OUTPUT, Trait.HISTORY_DEPENDENT,
                Trait.SPECULATIVE_SAFE, Trait.BATCH_SAFE);
        assertThat(factory.create(Options.of(Map.of("json_object", true)), tok).traits())
                .isEqualTo(factory.traits());
    }

    @Test
    void sampledRegexOutputsMatchOnTok512() {
        Tokenizer tok = Fixtures.tok512();
        String regex = "(Once|once) upon a [a-z]{2,8}, [A-Z][a-z]+ (ran|saw|had) \\d{1,3} (cats|dogs)\\.";
        for (int run = 0; run < 50; run++) {
            String out = sample(tok, Options.of(Map.of("regex", regex)), run, 200);
            assertThat(Pattern.matches(regex, out)).as(out).isTrue();
        }
    }

    @Test
    void sampledJsonObjectsParseOnTok512AndGpt2() throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        for (Tokenizer tok : new Tokenizer[] {Fixtures.tok512(), Fixtures.gpt2()}) {
            for (int run = 0; run < 30; run++) {
                String out = sample(tok, Options.of(Map.of("json_object", true, "max_tokens", 64)), run, 64);
                JsonNode node = mapper.readTree(out);
                assertThat(node.isObject()).as(out).isTrue();
            }
        }
    }

    @Test
    void withoutTheBudgetSomeOutputsAreCutOffWithItNone() {
        Tokenizer tok = Fixtures.tok512();
        Options unbounded = Options.of(Map.of("json_schema", SamplingLoopTest.TREE));
        Options bounded = unbounded.with("max_tokens", 24);
        Recognizer r = new Recognizer(JsonSchemaCompiler.compile(SamplingLoopTest.TREE));
        int cutOff = 0;
        for (int run = 0; run < 100; run++) {
            byte[] free = sample(tok, unbounded, run, 24).getBytes(StandardCharsets.UTF_8);
            cutOff += r.matches(free) ? 0 : 1;
            byte[] forced = sample(tok, bounded, run, 24).getBytes(StandardCharsets.UTF_8);
            assertThat(r.matches(forced)).as(new String(forced, StandardCharsets.UTF_8)).isTrue();
        }
        assertThat(cutOff).as("outputs cut off by the budget without forcing").isPositive();
    }

    @Test
    void compiledConstraintsAreSharedAcrossRequests() {
        Tokenizer tok = Fixtures.tok512();
        Constraints constraints = new Constraints();
        Constraints.Source source = Constraints.source(Options.of(Map.of("regex", "[a-z]+")));
        Constraint first = constraints.constraint(source, tok);
        assertThat(constraints.constraint(Constraints.source(Options.of(Map.of("regex", "[a-z]+", "max_tokens", 9))),
                tok)).isSameAs(first);
        assertThat(constraints.constraint(Constraints.source(Options.of(Map.of("regex", "[a-y]+"))), tok))
                .isNotSameAs(first);
        assertThat(constraints.constraint(source, Fixtures.gpt2()).vocabulary).isNotSameAs(first.vocabulary);
        assertThat(constraints.vocabulary(tok)).isSameAs(first.vocabulary);
        // a schema given as a parsed object and as text compile to the same constraint text
        assertThat(Constraints.source(Options.of(Map.of("json_schema", Map.of("type", "string")))).text())
                .isEqualTo("{\"type\":\"string\"}");
        // a Jackson tree (what an HTTP layer may pass) is read through its JSON text
        com.fasterxml.jackson.databind.node.ObjectNode node = new ObjectMapper().createObjectNode().put("type", "string");
        assertThat(Constraints.source(Options.of(Map.of("json_schema", node))).text())
                .isEqualTo("{\"type\":\"string\"}");
        assertThatThrownBy(() -> Constraints.source(Options.of(Map.of("json_schema", 42))))
                .hasMessageContaining("must be a JSON Schema");
    }

    @Test
    void eosIsTheOnlyTokenWhereNothingCanFollow() {
        Tokenizer tok = Fixtures.tok512();
        LogitsProcessor p = factory.create(Options.of(Map.of("regex", "ab")), tok);
        SamplingContext ctx = SamplingContext.seeded(new int[] {1}, tok.vocabSize(), 1);
        ctx.append(3 + 'a');
        ctx.append(3 + 'b');
        float[] logits = new float[tok.vocabSize()];
        p.process(logits, ctx);
        int eos = tok.eosTokenId().orElseThrow();
        for (int i = 0; i < logits.length; i++) {
            assertThat(logits[i] == Float.NEGATIVE_INFINITY).as("token %d", i).isEqualTo(i != eos);
        }
    }

    /** Samples with random logits until EOS or the budget; returns the output text. */
    static String sample(Tokenizer tok, Options options, long seed, int budget) {
        LogitsProcessor p = SHARED.create(options, tok);
        SplittableRandom random = new SplittableRandom(seed);
        SamplingContext ctx = SamplingContext.seeded(new int[] {1}, tok.vocabSize(), seed);
        int eos = tok.eosTokenId().orElseThrow();
        float[] logits = new float[tok.vocabSize()];
        for (int step = 0; step < budget; step++) {
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) (random.nextGaussian() * 3);
            }
            p.process(logits, ctx);
            int token = Sampling.sample(logits, random);
            if (token == eos) {
                break;
            }
            ctx.append(token);
        }
        return new String(Fixtures.bytes(tok, ctx.generated()), StandardCharsets.UTF_8);
    }
}
