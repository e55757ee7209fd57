package dev.arbor.generation.promptlookup;

import static dev.arbor.generation.promptlookup.PromptLookupGeneratorTest.ARGMAX;
import static dev.arbor.generation.promptlookup.PromptLookupGeneratorTest.context;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.speculative.SpeculativeDecoding;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Greedy equivalence of prompt lookup on llama2.c stories260K (ONNX Runtime, format llama2c): for three prompts
 * (one of them repetitive, so that n-gram drafts are accepted) and 64 and 200 new tokens, the output equals plain
 * autoregressive greedy token for token.
 */
class Stories260kPromptLookupTest {
    @TempDir
    static Path cache;
    private static ModelBackend target;
    private static Llama2cTokenizer tokenizer;

    @BeforeAll
    static void open() {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        tokenizer = Llama2cTokenizer.read(SharedModels.require("stories260K/tok512.bin"), 512);
        target = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cache.toString()))));
    }

    @AfterAll
    static void close() {
        if (target != null) {
            target.close();
        }
    }

    @Test
    void promptLookupGivesExactlyPlainGreedyOutput() {
        long acceptedTotal = 0;
        String[] prompts = {"Once upon a time", "Lily and Ben", "The cat sat on the mat. The cat sat on the"};
        for (String text : prompts) {
            int[] prompt = tokenizer.encode(text, true);
            for (int length : new int[] {64, 200}) {
                int[] plain = new AutoregressiveGenerator().generate(context(target, prompt, length, ARGMAX, null, 0,
                        Map.of()), TokenSink.DISCARD).tokens();
                for (Map<String, Object> options : java.util.List.<Map<String, Object>>of(Map.of(),
                        Map.of("max_ngram", 2, "lookahead", 4))) {
                    GenerationResult r = new PromptLookupGenerator().generate(context(target, prompt, length, ARGMAX,
                            null, 0, options), TokenSink.DISCARD);
                    assertThat(r.tokens()).as("'%s', %d tokens, options %s", text, length, options)
                            .isEqualTo(plain);
                    long accepted = ((Number) r.stats().get(SpeculativeDecoding.ACCEPTED)).longValue();
                    assertThat(accepted + r.forwardPasses()).isEqualTo(length);
                    acceptedTotal += accepted;
                    System.out.printf("'%s' %d tokens %s: acceptance %.3f, tokens/step %.2f%n", text, length,
                            options, r.stats().get(SpeculativeDecoding.ACCEPTANCE_RATE),
                            r.stats().get(SpeculativeDecoding.TOKENS_PER_STEP));
                }
            }
        }
        // stories repeat names and phrases: some drafts must have been accepted, or the test proved nothing
        assertThat(acceptedTotal).isPositive();
    }
}
