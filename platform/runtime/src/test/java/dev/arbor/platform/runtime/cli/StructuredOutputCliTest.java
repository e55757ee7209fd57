package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.pipeline.PartPolicy;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.postprocess.PostProcessor;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.osgi.framework.BundleContext;

/** {@code arbor generate --json-schema FILE | --regex TEXT | --grammar FILE} against a recording pipeline service. */
class StructuredOutputCliTest {
    @TempDir
    Path dir;

    private final List<CompletionRequest> requests = new ArrayList<>();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private static final PipelineDefinition PIPELINE = new PipelineDefinition("p", "", new ModelRef("onnxruntime",
            "llama2c", "/m.bin", Options.empty()), new dev.arbor.api.pipeline.TokenizerRef("llama2c", "/t.bin",
            Options.empty()), PartRef.of("autoregressive"), List.of(PartRef.of("repetition-penalty"),
            PartRef.of("temperature")), PartRef.of("sample"), List.of(), Options.empty(),
            new PartPolicy(List.of(), List.of("structured-output"), List.of()));

    private int run(String... args) throws Exception {
        ArborCli cli = new ArborCli();
        set(cli, "pipelines", new PipelineService() {
            @Override
            public List<PipelineStatus> pipelines() {
                return List.of(status("p").orElseThrow());
            }

            @Override
            public Optional<PipelineStatus> status(String name) {
                return name.equals("p") ? Optional.of(new PipelineStatus("p", true, List.of(), PIPELINE))
                        : Optional.empty();
            }

            @Override
            public Completion complete(CompletionRequest request, TextSink sink) {
                requests.add(request);
                return new Completion("p", "{}", new int[] {1}, new int[] {2}, new double[] {0}, FinishReason.STOP,
                        1, 2, Map.of());
            }

            @Override
            public int[] tokenize(String pipeline, String text) {
                return new int[0];
            }

            @Override
            public PostProcessor.Output analyze(String pipeline, String text, Options options) {
                throw new UnsupportedOperationException();
            }

            @Override
            public void define(PipelineDefinition definition) {
                throw new UnsupportedOperationException();
            }
        });
        set(cli, "context", Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {BundleContext.class},
                (proxy, method, a) -> null)); // no framework properties: the defaults apply
        return cli.run(args, new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private static void set(Object target, String field, Object value) throws Exception {
        Field f = ArborCli.class.getDeclaredField(field);
        f.setAccessible(true);
        f.set(target, value);
    }

    private String err() {
        return err.toString(StandardCharsets.UTF_8);
    }

    @Test
    void jsonSchemaFileBecomesTheFirstProcessorAheadOfThePipelinesChain() throws Exception {
        Path schema = Files.writeString(dir.resolve("s.json"), "{\"type\": \"object\", \"required\": [\"a\"]}");
        assertThat(run("generate", "--pipeline", "p", "--json-schema", schema.toString(), "--max-tokens", "30",
                "Once")).isZero();
        List<PartRef> chain = requests.get(0).processors();
        assertThat(chain).extracting(PartRef::name).containsExactly("structured-output", "repetition-penalty",
                "temperature");
        assertThat(new ObjectMapper().readTree(chain.get(0).options().string("json_schema", null)))
                .isEqualTo(new ObjectMapper().readTree("{\"type\":\"object\",\"required\":[\"a\"]}"));
        assertThat(chain.get(0).options().asMap()).containsEntry("max_tokens", 30);
    }

    @Test
    void regexAndGrammarMapToTheirOptions() throws Exception {
        assertThat(run("generate", "--pipeline", "p", "--regex", "(yes|no)", "Q")).isZero();
        assertThat(requests.get(0).processors().get(0).options().asMap()).containsEntry("regex", "(yes|no)")
                .doesNotContainKey("max_tokens");
        Path grammar = Files.writeString(dir.resolve("g.gbnf"), "root ::= \"yes\" | \"no\"\n");
        assertThat(run("generate", "--pipeline", "p", "--grammar", grammar.toString(), "Q")).isZero();
        assertThat(requests.get(1).processors().get(0).options().asMap())
                .containsEntry("grammar", "root ::= \"yes\" | \"no\"\n");
        assertThat(run("generate", "--pipeline", "p", "Q")).isZero();
        assertThat(requests.get(2).processors()).isNull();
    }

    @Test
    void theFlagsAreMutuallyExclusive() throws Exception {
        assertThat(run("generate", "--pipeline", "p", "--regex", "a", "--grammar", "g.gbnf", "Q")).isEqualTo(2);
        assertThat(err()).contains("mutually exclusive");
        assertThat(requests).isEmpty();
    }

    @Test
    void missingOrBadFilesGetOneLineErrors() throws Exception {
        assertThat(run("generate", "--pipeline", "p", "--json-schema", dir.resolve("none.json").toString(), "Q"))
                .isEqualTo(ArborCli.EXIT_NOT_FOUND);
        assertThat(err()).contains("the JSON schema file").contains("does not exist");
        Path notJson = Files.writeString(dir.resolve("bad.json"), "{\"type\": ");
        assertThat(run("generate", "--pipeline", "p", "--json-schema", notJson.toString(), "Q"))
                .isEqualTo(ArborCli.EXIT_INVALID);
        assertThat(err()).contains("is not JSON");
        Path array = Files.writeString(dir.resolve("array.json"), "[1, 2]");
        assertThat(run("generate", "--pipeline", "p", "--json-schema", array.toString(), "Q"))
                .isEqualTo(ArborCli.EXIT_INVALID);
        assertThat(err()).contains("must hold a JSON object");
        assertThat(run("generate", "--pipeline", "p", "--grammar", dir.toString(), "Q"))
                .isEqualTo(ArborCli.EXIT_INVALID);
        assertThat(err()).contains("is a directory");
        assertThat(requests).isEmpty();
    }
}
