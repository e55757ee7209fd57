package dev.arbor.generation.tidar;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.backend.djl.DjlBackendProvider;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.testkit.TestContexts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The forge's TiDAR model ({@code models/trained/arbor-tiny-tidar}, system property {@code arbor.trained}) on both
 * backends: greedy tidar emits plain greedy decoding's tokens for several prompts and draft lengths (METHODS.md
 * §3.10 honest test 2 on the real model), its MASK blocks draft well enough that a forward yields clearly more than
 * one token, and sampling at temperature 1 runs with drafts accepted and rejected.
 */
class TrainedTiDarModelTest {
    private static final String NAME = "arbor-tiny-tidar";
    private static final List<String> PROMPTS = List.of("Once upon a time", "Tom and his dog", "The little girl");
    @TempDir
    static Path cache;

    static Path folder() {
        Path root = Path.of(System.getProperty("arbor.trained", "models/trained"));
        Path dir = root.resolve(NAME);
        assertThat(dir.resolve(NAME + ".bin")).as("the committed TiDAR model").isRegularFile();
        return dir;
    }

    @Test
    void greedyTidarEqualsPlainGreedyOnBothBackendsAndDraftsUsefully() throws Exception {
        Path dir = folder();
        Llama2cTokenizer tok = Llama2cTokenizer.read(dir.resolve("tokenizer.bin"), 0);
        for (String backend : List.of("onnxruntime", "djl")) {
            try (ModelBackend model = backend.equals("djl")
                    ? new DjlBackendProvider().open(new ModelSpec(dir.resolve(NAME + ".bin"), "llama2c", null))
                    : new OnnxRuntimeBackendProvider().open(new ModelSpec(dir.resolve(NAME + ".bin"), "llama2c",
                    Options.of(Map.of("cache_dir", cache.toString()))))) {
                assertThat(model.card().maskTokenId()).as("the card names the MASK").isPresent();
                long tokens = 0;
                long forwards = 0;
                for (String text : PROMPTS) {
                    int[] prompt = tok.encode(text, true);
                    GenerationResult ar = new AutoregressiveGenerator().generate(TestContexts.context(model, prompt,
                            60, TestContexts.greedy(), model.card().eosTokenIds(), 1, Map.of()), TokenSink.DISCARD);
                    for (int k : new int[] {2, 4}) {
                        GenerationResult t = new TiDarGenerator().generate(TestContexts.context(model, prompt, 60,
                                TestContexts.greedy(), model.card().eosTokenIds(), 1, Map.of("draft_length", k)),
                                TokenSink.DISCARD);
                        assertThat(t.tokens()).as("%s, k=%d, prompt '%s'", backend, k, text)
                                .containsExactly(ar.tokens());
                        if (k == 4) {
                            tokens += t.tokens().length;
                            forwards += t.forwardPasses();
                        }
                        System.out.printf("%s k=%d '%s': %d tokens in %d forwards (%s)%n", backend, k, text,
                                t.tokens().length, t.forwardPasses(), t.stats());
                    }
                }
                assertThat((double) tokens / forwards).as(backend + ": tokens per forward at k=4")
                        .isGreaterThan(1.3);
            }
        }
    }

    @Test
    void samplingAtTemperatureOneAcceptsAndRejectsDrafts() throws Exception {
        Path dir = folder();
        Llama2cTokenizer tok = Llama2cTokenizer.read(dir.resolve("tokenizer.bin"), 0);
        try (ModelBackend model = new OnnxRuntimeBackendProvider().open(new ModelSpec(dir.resolve(NAME + ".bin"),
                "llama2c", Options.of(Map.of("cache_dir", cache.toString()))))) {
            long drafted = 0;
            long accepted = 0;
            for (int seed = 0; seed < 6; seed++) {
                GenerationResult t = new TiDarGenerator().generate(TestContexts.context(model,
                        tok.encode("Once upon a time", true), 60, TestContexts.sampling(), model.card().eosTokenIds(),
                        seed, Map.of()), TokenSink.DISCARD);
                assertThat(t.tokens()).isNotEmpty();
                drafted += ((Number) t.stats().get(TiDarGenerator.DRAFTED)).longValue();
                accepted += ((Number) t.stats().get(TiDarGenerator.ACCEPTED)).longValue();
                if (seed == 0) {
                    System.out.println("sampled: " + tok.decode(t.tokens()));
                }
            }
            assertThat(accepted).isPositive().isLessThan(drafted);
        }
    }
}
