package ${package};

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.tokenizer.TokenizerProvider;
import dev.arbor.testkit.ToyCausalBackend;
import dev.arbor.testkit.framework.RuntimeHarness;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.Bundle;

/**
 * This plugin in a real framework: Arbor's core bundles (target/arbor, assembled by the build) in Felix, the jar
 * this build made dropped into deploy/ and trusted by its SHA-256, as an operator would. The model is the test
 * kit's toy model, served by a backend and a tokenizer this test registers, so no model file is needed. Pipeline
 * 'plugin-demo' names the plugin's parts itself; pipeline 'plugin-requests' lets a request choose them.
 */
class PluginInFrameworkIT {
    @TempDir
    static Path home;
    static RuntimeHarness runtime;
    static PipelineService pipelines;

    @BeforeAll
    static void startTheRuntimeAndDeployThePlugin() throws Exception {
        runtime = new RuntimeHarness(home, null);
        Hashtable<String, Object> toy = new Hashtable<>(Map.of(PartProperties.NAME, "toy"));
        runtime.context().registerService(ModelBackendProvider.class, spec -> ToyCausalBackend.builder()
                .vocabSize(LetterTokenizer.VOCAB).maxPositions(128).seed(17).build(), toy);
        runtime.context().registerService(TokenizerProvider.class, (path, options) -> new LetterTokenizer(), toy);

        Path jar = Path.of(System.getProperty("plugin.jar"));
        runtime.trust(jar); // etc/trust/trusted-bundles.sha256: its digest, then the file
        Files.copy(jar, home.resolve("deploy").resolve(jar.getFileName()));
        pipelines = runtime.pipelines();
        runtime.awaitReady("plugin-demo");
        runtime.awaitReady("plugin-requests");
    }

    @AfterAll
    static void stop() throws Exception {
        if (runtime != null) {
            runtime.close();
        }
    }

    @Test
    void theDeployedBundleIsActiveWithItsParts() {
        Bundle plugin = runtime.bundle("${package}");
        assertThat(plugin.getState()).isEqualTo(Bundle.ACTIVE);
        assertThat(plugin.getLocation()).contains("deploy");
    }

    @Test
    void aPipelineNamingThePluginsPartsServesWithThem() {
        Completion c = pipelines.complete(CompletionRequest.text("plugin-demo", "abcab",
                Options.of(Map.of("seed", 1L))), TextSink.DISCARD);
        assertThat(c.stats()).containsEntry("generator", BestOfKGenerator.NAME).containsEntry("best_of", 3);
        assertThat(c.tokens()).hasSize(24);
        // the pipeline's no_repeat_ngram_size 2: no bigram of prompt + answer occurs twice
        assertThat(repeatedNGram(c, 2)).isEmpty();
    }

    @Test
    void aRequestChoosesThePluginsPartsWithItsOwnOptions() {
        CompletionRequest plain = CompletionRequest.text("plugin-requests", "abcab", Options.of(Map.of("seed", 2L)));
        Completion own = pipelines.complete(plain, TextSink.DISCARD);
        assertThat(own.stats()).containsEntry("generator", "autoregressive").doesNotContainKey("best_of");

        // "arbor": {"generator": {"name": "best-of-k", "options": {"best_of": 2}},
        //           "processors": ["temperature", {"name": "no-repeat-ngram", "options": {"no_repeat_ngram_size": 1}}]}
        CompletionRequest chosen = new CompletionRequest("plugin-requests", "abc", null, List.of(),
                new PartRef(BestOfKGenerator.NAME, Options.of(Map.of("best_of", 2))),
                List.of(PartRef.of("temperature"), new PartRef(NoRepeatNGramProcessorFactory.NAME,
                        Options.of(Map.of("no_repeat_ngram_size", 1)))),
                Options.of(Map.of("seed", 2L, "max_tokens", 10)));
        Completion c = pipelines.complete(chosen, TextSink.DISCARD);
        assertThat(c.stats()).containsEntry("generator", BestOfKGenerator.NAME).containsEntry("best_of", 2);
        // unigram blocking: 13 distinct letters out of 16, none of the prompt's
        assertThat(repeatedNGram(c, 1)).isEmpty();
        assertThat(c.tokens()).hasSize(10);
    }

    @Test
    void aBadOptionIsRefusedNamingThePartThatRefusedIt() {
        CompletionRequest bad = new CompletionRequest("plugin-requests", "abc", null, List.of(), null,
                List.of(PartRef.of("temperature"), new PartRef(NoRepeatNGramProcessorFactory.NAME,
                        Options.of(Map.of("no_repeat_ngram_size", 99)))), Options.empty());
        assertThatThrownBy(() -> pipelines.complete(bad, TextSink.DISCARD))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining("logits processor '" + NoRepeatNGramProcessorFactory.NAME + "'")
                .hasMessageContaining("option 'no_repeat_ngram_size' must be between 0 and 64, got 99");

        // arbor.options reach every part: a generator option given once for the request reaches best-of-k too
        CompletionRequest badGeneratorOption = new CompletionRequest("plugin-requests", "abc", null, List.of(),
                PartRef.of(BestOfKGenerator.NAME), null, Options.of(Map.of("best_of", 0)));
        assertThatThrownBy(() -> pipelines.complete(badGeneratorOption, TextSink.DISCARD))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("'" + BestOfKGenerator.NAME + "'")
                .hasMessageContaining("option 'best_of' must be between 1 and 16, got 0");
    }

    /** The n-grams of prompt + answer that occur more than once. */
    private static List<List<Integer>> repeatedNGram(Completion c, int n) {
        int[] all = new int[c.promptTokens().length + c.tokens().length];
        System.arraycopy(c.promptTokens(), 0, all, 0, c.promptTokens().length);
        System.arraycopy(c.tokens(), 0, all, c.promptTokens().length, c.tokens().length);
        Set<List<Integer>> seen = new HashSet<>();
        List<List<Integer>> repeated = new ArrayList<>();
        // n-grams that end in the answer: the prompt may repeat itself ("abcab"), the answer may not
        for (int end = n; end <= all.length; end++) {
            List<Integer> gram = new ArrayList<>();
            for (int j = end - n; j < end; j++) {
                gram.add(all[j]);
            }
            if (!seen.add(gram) && end > c.promptTokens().length) {
                repeated.add(gram);
            }
        }
        return repeated;
    }
}
