package dev.arbor.platform.runtime.cli;


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
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.osgi.framework.BundleContext;

/**
 * Runs {@link ArborCli} against a recording pipeline service with one pipeline, {@code p} (autoregressive;
 * repetition penalty and temperature; a request may add {@code structured-output}): the tests of the CLI's flags
 * read the requests it made and what it printed.
 */
final class RecordingCli {
    final List<CompletionRequest> requests = new ArrayList<>();
    final ByteArrayOutputStream out = new ByteArrayOutputStream();
    final ByteArrayOutputStream err = new ByteArrayOutputStream();

    private static final PipelineDefinition PIPELINE = new PipelineDefinition("p", "", new ModelRef("onnxruntime",
            "llama2c", "/m.bin", Options.empty()), new dev.arbor.api.pipeline.TokenizerRef("llama2c", "/t.bin",
            Options.empty()), PartRef.of("autoregressive"), List.of(PartRef.of("repetition-penalty"),
            PartRef.of("temperature")), PartRef.of("sample"), List.of(), Options.empty(),
            new PartPolicy(List.of(), List.of("structured-output"), List.of()));

    int run(String... args) throws Exception {
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

    String err() {
        return err.toString(StandardCharsets.UTF_8);
    }
}
