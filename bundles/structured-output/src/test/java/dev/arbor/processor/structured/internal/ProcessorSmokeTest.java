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

    /** Samples with random logits until EOS or the budget; returns the output text. */
    static String sample(Tokenizer tok, Options options, long seed, int budget) {
        LogitsProcessor p = new StructuredOutputFactory().create(options, tok);
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
