package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code arbor generate --json-schema FILE | --regex TEXT | --grammar FILE} against a recording pipeline service. */
class StructuredOutputCliTest {
    @TempDir
    Path dir;

    private final RecordingCli cli = new RecordingCli();
    private final List<CompletionRequest> requests = cli.requests;
    private final ByteArrayOutputStream out = cli.out;

    private int run(String... args) throws Exception {
        return cli.run(args);
    }

    private String err() {
        return cli.err();
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
