package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

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
import dev.arbor.platform.runtime.internal.PartKind;
import dev.arbor.platform.runtime.internal.PartRegistry;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.osgi.framework.BundleContext;

/** {@code arbor generate --processors}, part descriptions in {@code arbor bundles}, help texts without "null". */
class CliFlagsTest {
    private final List<CompletionRequest> requests = new ArrayList<>();
    private final ByteArrayOutputStream err = new ByteArrayOutputStream();
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

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
        return cli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
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
