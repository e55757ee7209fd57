package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.platform.runtime.internal.PartKind;
import dev.arbor.platform.runtime.internal.PartRegistry;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@code arbor generate --processors}, part descriptions in {@code arbor bundles}, help texts without "null". */
class CliFlagsTest {
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
    void processorsFlagReplacesTheChainInOrder() throws Exception {
        assertThat(run("generate", "--pipeline", "p", "--processors", "top-k,temperature", "Q")).isZero();
        assertThat(requests.get(0).processors()).extracting(PartRef::name).containsExactly("top-k", "temperature");
        assertThat(run("generate", "--pipeline", "p", "--processors", "top-k", "--regex", "(a|b)", "Q")).isZero();
        assertThat(requests.get(1).processors()).extracting(PartRef::name)
                .containsExactly("structured-output", "top-k");
        assertThat(run("generate", "--pipeline", "p", "Q")).isZero();
        assertThat(requests.get(2).processors()).isNull();
    }

    @Test
    void processorsFlagRejectsEmptyAndRepeatedNames() throws Exception {
        assertThat(run("generate", "--pipeline", "p", "--processors", "top-k,,temperature", "Q"))
                .isEqualTo(ArborCli.EXIT_INVALID);
        assertThat(err()).contains("empty name");
        assertThat(run("generate", "--pipeline", "p", "--processors", "top-k,top-k", "Q"))
                .isEqualTo(ArborCli.EXIT_INVALID);
        assertThat(err()).contains("'top-k' twice");
        assertThat(requests).isEmpty();
    }

    @Test
    void bundlesListingShowsThePartsDescription() {
        assertThat(PartListing.describe(new PartRegistry.PartInfo(PartKind.PROCESSOR, "no-repeat", 0, "acme 1.0.0",
                4L, "Bans repeated n-grams"))).isEqualTo("logits processor 'no-repeat': Bans repeated n-grams");
        assertThat(PartListing.describe(new PartRegistry.PartInfo(PartKind.GENERATOR, "best-of-k", 3, "acme 1.0.0",
                5L, null))).isEqualTo("generator 'best-of-k' (ranking 3)");
    }

    @Test
    void noHelpTextPrintsNull() throws Exception {
        List<String> visited = new ArrayList<>();
        checkHelp(List.of(), visited);
        // the walk follows each help's "Commands:" list, so a new subcommand is checked without editing this test
        assertThat(visited).contains("generate", "bundles", "serve", "prognostics fit", "watermark detect");
    }

    private void checkHelp(List<String> path, List<String> visited) throws Exception {
        List<String> args = new ArrayList<>(path);
        args.add("--help");
        out.reset();
        String command = String.join(" ", path);
        assertThat(run(args.toArray(String[]::new))).as(command).isZero();
        String help = out.toString(StandardCharsets.UTF_8);
        assertThat(help).as(command).contains("Usage:").doesNotContainIgnoringCase("null");
        visited.add(command);
        int commands = help.indexOf("Commands:");
        if (commands < 0) {
            return;
        }
        for (String line : help.substring(commands).split("\\R")) {
            Matcher m = SUBCOMMAND.matcher(line);
            if (m.find()) {
                List<String> sub = new ArrayList<>(path);
                sub.add(m.group(1));
                checkHelp(sub, visited);
            }
        }
    }

    private static final Pattern SUBCOMMAND = Pattern.compile("^  ([a-z][a-z-]*)(\\s|$)");
}
