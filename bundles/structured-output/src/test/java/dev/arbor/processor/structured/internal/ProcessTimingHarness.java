package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.processor.structured.StructuredOutputFactory;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Per-token cost of {@code process} (ns/token) on stories260K's tok512 (vocabulary 512) and tiny-random-gpt2
 * (vocabulary 50,295): cold (empty caches: grammar compiled, trie built, every mask computed), cold masks (trie
 * and grammar cached, masks not), warm (masks cached), and a processor that does nothing, over one sampled output.
 * Run with {@code -Darbor.timing=true}; it prints the table.
 */
@EnabledIfSystemProperty(named = "arbor.timing", matches = "true")
class ProcessTimingHarness {

    @Test
    void measure() {
        String[][] constraints = {
            {"json_schema", SamplingLoopTest.PERSON},
            {"json_object", "true"},
            {"regex", SamplingLoopTest.REGEX}};
        System.out.printf("%-10s %-12s %7s %14s %14s %14s %14s%n", "tokenizer", "constraint", "tokens",
                "cold ns/tok", "cold-mask", "warm ns/tok", "empty ns/tok");
        for (String tokName : new String[] {"tok512", "gpt2"}) {
            Tokenizer tok = tokName.equals("tok512") ? Fixtures.tok512() : Fixtures.gpt2();
            for (String[] c : constraints) {
                Options options = Options.of(Map.of(c[0], c[0].equals("json_object") ? (Object) true : c[1],
                        "max_tokens", 200));
                int[] tokens = sampleTokens(tok, options);
                long cold = Long.MAX_VALUE;
                long coldMask = Long.MAX_VALUE;
                long warm = Long.MAX_VALUE;
                long empty = Long.MAX_VALUE;
                for (int rep = 0; rep < 5; rep++) {
                    StructuredOutputFactory factory = new StructuredOutputFactory();
                    cold = Math.min(cold, run(() -> {
                        factory.clearCaches();
                        return factory.create(options, tok);
                    }, tok, tokens));
                    Constraints shared = new Constraints();
                    Constraint constraint = shared.constraint(Constraints.source(options), tok);
                    coldMask = Math.min(coldMask, run(() -> {
                        constraint.cache().clear();
                        return shared.processor(options, tok);
                    }, tok, tokens));
                    warm = Math.min(warm, run(() -> factory.create(options, tok), tok, tokens));
                    empty = Math.min(empty, run(() -> (logits, ctx) -> { }, tok, tokens));
                }
                int n = tokens.length + 1;
                System.out.printf("%-10s %-12s %7d %14d %14d %14d %14d%n", tokName, c[0], tokens.length, cold / n,
                        coldMask / n, warm / n, empty / n);
                assertThat(warm).isLessThan(cold);
            }
        }
    }

    /** ns for creating a processor and processing every prefix of {@code tokens}. */
    private static long run(java.util.function.Supplier<LogitsProcessor> create, Tokenizer tok, int[] tokens) {
        float[] logits = new float[tok.vocabSize()];
        SamplingContext ctx = SamplingContext.seeded(new int[] {1}, tok.vocabSize(), 1);
        long start = System.nanoTime();
        LogitsProcessor processor = create.get();
        for (int i = 0; i <= tokens.length; i++) {
            Arrays.fill(logits, 0f);
            processor.process(logits, ctx);
            if (i < tokens.length) {
                ctx.append(tokens[i]);
            }
        }
        return System.nanoTime() - start;
    }

    private static int[] sampleTokens(Tokenizer tok, Options options) {
        LogitsProcessor p = new StructuredOutputFactory().create(options, tok);
        SplittableRandom random = new SplittableRandom(11);
        SamplingContext ctx = SamplingContext.seeded(new int[] {1}, tok.vocabSize(), 11);
        float[] logits = new float[tok.vocabSize()];
        int eos = tok.eosTokenId().orElseThrow();
        for (int step = 0; step < 200; step++) {
            for (int i = 0; i < logits.length; i++) {
                logits[i] = (float) random.nextGaussian();
            }
            p.process(logits, ctx);
            int t = Sampling.sample(logits, random);
            if (t == eos) {
                break;
            }
            ctx.append(t);
        }
        return ctx.generated();
    }
}
