package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.processor.structured.StructuredOutputFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * One processor serving truncated histories (speculative rollback) and several beams in turn gives, at every call,
 * the mask a fresh processor gives for the same history.
 */
class RollbackTest {
    private static final Options OPTIONS = Options.of(Map.of("json_schema", SamplingLoopTest.PERSON,
            "max_tokens", 80));
    private final StructuredOutputFactory factory = new StructuredOutputFactory();
    private final Tokenizer tok = Fixtures.tok512();

    private float[] mask(LogitsProcessor p, SamplingContext ctx) {
        float[] logits = new float[tok.vocabSize()];
        p.process(logits, ctx);
        return logits;
    }

    private float[] fresh(SamplingContext ctx) {
        return mask(factory.create(OPTIONS, tok), ctx.fork());
    }

    private int sampleAllowed(float[] masked, SplittableRandom random) {
        float[] logits = masked.clone();
        for (int i = 0; i < logits.length; i++) {
            if (logits[i] != Float.NEGATIVE_INFINITY) {
                logits[i] = (float) random.nextGaussian();
            }
        }
        return Sampling.sample(logits, random);
    }

    @Test
    void truncatedHistoriesGetTheMasksOfAFreshProcessor() {
        SplittableRandom random = new SplittableRandom(3);
        LogitsProcessor p = factory.create(OPTIONS, tok);
        SamplingContext ctx = SamplingContext.seeded(new int[] {1, 403}, tok.vocabSize(), 3);
        int eos = tok.eosTokenId().orElseThrow();
        for (int step = 0; step < 300; step++) {
            float[] m = mask(p, ctx);
            assertThat(m).isEqualTo(fresh(ctx));
            int token = sampleAllowed(m, random);
            if (token == eos || ctx.generatedLength() >= 79) {
                ctx.truncate(ctx.promptLength() + random.nextInt(ctx.generatedLength() + 1));
                continue;
            }
            ctx.append(token);
            if (random.nextInt(5) == 0) {
                // a rejected draft: roll back a few tokens
                ctx.truncate(Math.max(ctx.promptLength(), ctx.length() - 1 - random.nextInt(4)));
            }
        }
    }

    @Test
    void beamsInTurnGetTheMasksOfAFreshProcessor() {
        SplittableRandom random = new SplittableRandom(5);
        LogitsProcessor p = factory.create(OPTIONS, tok);
        List<SamplingContext> beams = new ArrayList<>();
        beams.add(SamplingContext.seeded(new int[] {1}, tok.vocabSize(), 5));
        int eos = tok.eosTokenId().orElseThrow();
        for (int step = 0; step < 40; step++) {
            List<SamplingContext> next = new ArrayList<>();
            for (SamplingContext beam : beams) {
                float[] m = mask(p, beam);
                assertThat(m).isEqualTo(fresh(beam));
                for (int k = 0; k < 2; k++) {
                    int token = sampleAllowed(m, random);
                    if (token != eos && beam.generatedLength() < 79) {
                        SamplingContext child = beam.fork();
                        child.append(token);
                        next.add(child);
                    }
                }
            }
            // reorder and prune, as beam search does
            java.util.Collections.shuffle(next, new java.util.Random(step));
            beams = next.subList(0, Math.min(4, next.size()));
            if (beams.isEmpty()) {
                break;
            }
        }
    }

    @Test
    void aHistoryTokenTheGrammarRejectsIsNamed() {
        LogitsProcessor p = factory.create(Options.of(Map.of("regex", "[0-9]+")), tok);
        SamplingContext ctx = SamplingContext.seeded(new int[] {1}, tok.vocabSize(), 1);
        int[] digits = {3 + '1', 3 + '2'}; // llama2.c byte tokens <0x31> <0x32>
        for (int d : digits) {
            ctx.append(d);
        }
        p.process(new float[tok.vocabSize()], ctx);
        int bad = 3 + 'x';
        ctx.append(bad);
        assertThatThrownBy(() -> p.process(new float[tok.vocabSize()], ctx)).isInstanceOf(ArborException.class)
                .hasMessageContaining("generated token " + bad + " at position " + digits.length);
    }
}
