package dev.arbor.platform.runtime.cli;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.platform.runtime.internal.PipelineJson;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Function;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code arbor image}: generates {@code --count} images of one class with an image pipeline (tokenizer format
 * {@code image-vq}, post-processor {@code image-png}) and writes {@code DIR/<class index>_<n>.png}, drawing a progress
 * bar on stderr. With {@code --seed s}, image n uses seed s + n (as the HTTP API's n images do).
 */
@Command(name = "image", mixinStandardHelpOptions = true,
        description = {"Generate images of one class with an image pipeline and write them as PNG files:"
                + " DIR/<class index>_<n>.png for n = 0..COUNT-1.",
                "Example: arbor image --pipeline fashion-var --class sneaker --count 8 --out out/"})
final class ImageCommand implements Callable<Integer> {
    /** More images than this per command is a typo, not a use case. */
    static final int MAX_COUNT = 100_000;

    private final PipelineService pipelines;
    private final Function<String, PipelineStatus> awaitReady;
    private final PrintStream out;
    private final PrintStream err;

    @Option(names = "--pipeline", required = true, description = "Image pipeline (e.g. fashion-ar, fashion-var).")
    String pipeline;
    @Option(names = "--class", required = true, description = "Class: an index (0-9 for Fashion-MNIST) or a name"
            + " such as sneaker.")
    String classArg;
    @Option(names = "--count", description = "Images to generate (default: ${DEFAULT-VALUE}).")
    int count = 1;
    @Option(names = "--out", required = true, description = "Directory for the PNG files (created if missing).")
    Path outDir;
    @Option(names = "--strategy", description = "Decoding strategy (generator part) for these images, among the"
            + " pipeline's overrides (e.g. jacobi, grouped-speculative).")
    String strategy;
    @Option(names = "--seed", description = "Seed of image 0 (image n uses seed + n): same seed, same images.")
    Long seed;
    @Option(names = "--option", description = "Extra request option key=value (repeatable), e.g. top_k=50,"
            + " guidance_scale=2.")
    Map<String, String> extra = new LinkedHashMap<>();

    ImageCommand(PipelineService pipelines, Function<String, PipelineStatus> awaitReady, PrintStream out,
                 PrintStream err) {
        this.pipelines = pipelines;
        this.awaitReady = awaitReady;
        this.out = out;
        this.err = err;
    }

    @Override
    public Integer call() {
        if (count < 1 || count > MAX_COUNT) {
            throw ArborException.invalid("--count must be between 1 and " + MAX_COUNT + ", got " + count);
        }
        PipelineStatus status = awaitReady.apply(pipeline);
        // the request's own mistakes (a text pipeline, an unknown class, an unwritable directory) are named first:
        // they need only the pipeline's tokenizer, not its model or generator
        ImageLayout layout = pipelines.imageLayout(pipeline).orElseThrow(() -> ArborException.invalid("pipeline '"
                + pipeline + "' generates text (its tokenizer is '" + tokenizerFormat(status) + "', not an image"
                + " tokenizer); 'arbor image' needs an image pipeline such as fashion-ar or fashion-var, and"
                + " 'arbor generate' runs text pipelines"));
        int k;
        try {
            k = layout.parseClass(classArg);
        } catch (IllegalArgumentException e) {
            throw ArborException.invalid(e.getMessage() + " (pipeline '" + pipeline + "')");
        }
        prepareOutput();
        if (!status.ready()) {
            err.println("arbor: pipeline '" + pipeline + "' " + status.describe());
            return ArborCli.EXIT_UNAVAILABLE;
        }
        Map<String, Object> options = new LinkedHashMap<>(ModelOptionKeys.split(extra, false, pipeline).request());
        // one image's tokens, as the HTTP API asks: a generator that does not know images stops there too
        options.putIfAbsent("max_tokens", layout.tokensPerImage());
        PartRef generator = strategy == null ? null : PipelineJson.parsePart(strategy);
        String className = layout.classNames().get(k);
        ProgressBar progress = new ProgressBar(err, (long) count * layout.tokensPerImage());
        long started = System.nanoTime();
        for (int n = 0; n < count; n++) {
            if (seed != null) {
                options.put("seed", seed + n);
            }
            CompletionRequest request = new CompletionRequest(pipeline, className, null, List.of(), generator, null,
                    Options.of(options));
            int image = n;
            Completion c = pipelines.complete(request, new TextSink() {
                @Override
                public boolean onText(String delta, int token) {
                    if (token >= 0) {
                        progress.step("image " + (image + 1) + "/" + count);
                    }
                    return true;
                }
            });
            Path file = outDir.resolve(k + "_" + n + ".png");
            write(file, png(c, layout));
        }
        progress.finish();
        out.printf("wrote %d image%s of class %d (%s) to %s in %.1f s%n", count, count == 1 ? "" : "s", k,
                className, outDir, (System.nanoTime() - started) / 1e9);
        out.flush();
        return 0;
    }

    /** The PNG the pipeline's image-png post-processor made; a message naming the cause when there is none. */
    private byte[] png(Completion c, ImageLayout layout) {
        if (c.finishReason() == FinishReason.CANCELLED) {
            throw new ArborException(ArborException.Kind.CANCELLED, "generation was cancelled after "
                    + c.tokens().length + " of " + layout.tokensPerImage() + " tokens");
        }
        if (!(c.stats().get("image") instanceof byte[] png)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "pipeline '" + pipeline + "' returned no"
                    + " image: add the post-processor \"image-png\" to its \"postprocessors\"");
        }
        if (Boolean.FALSE.equals(c.stats().get("image_complete"))) {
            throw ArborException.invalid("pipeline '" + pipeline + "' stopped after " + c.tokens().length + " of "
                    + layout.tokensPerImage() + " image tokens (finish reason " + c.finishReason().wireName()
                    + "); its max_tokens must be at least " + layout.tokensPerImage());
        }
        return png;
    }

    private void prepareOutput() {
        try {
            Files.createDirectories(outDir);
        } catch (IOException e) {
            throw ArborException.invalid("cannot create the output directory " + outDir + ": " + describe(e));
        }
        if (!Files.isDirectory(outDir) || !Files.isWritable(outDir)) {
            throw ArborException.invalid("the output directory " + outDir + " is not writable");
        }
    }

    private static void write(Path file, byte[] png) {
        try {
            Files.write(file, png);
        } catch (IOException e) {
            throw ArborException.invalid("cannot write " + file + ": " + describe(e));
        }
    }

    private static String describe(IOException e) {
        return e.getClass().getSimpleName() + (e.getMessage() == null ? "" : " " + e.getMessage());
    }

    private static String tokenizerFormat(PipelineStatus status) {
        return status.definition() == null ? "unknown" : status.definition().tokenizer().format();
    }
}
