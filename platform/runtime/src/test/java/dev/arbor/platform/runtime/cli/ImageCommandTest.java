package dev.arbor.platform.runtime.cli;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.image.Png;
import dev.arbor.api.pipeline.Completion;
import dev.arbor.api.pipeline.CompletionRequest;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.api.pipeline.PipelineService;
import dev.arbor.api.pipeline.PipelineStatus;
import dev.arbor.api.pipeline.TextSink;
import dev.arbor.api.postprocess.PostProcessor;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code arbor image} against a fake pipeline service: file names, seeds, strategy, progress and refusals. */
class ImageCommandTest {
    static final ImageLayout LAYOUT = new ImageLayout(28, 28, 512, List.of("t-shirt/top", "trouser", "pullover",
            "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"), new int[] {7}, 16);

    /** Serves image pipeline "img" (one PNG per request whose gray level encodes the seed) and text pipeline "txt". */
    static final class FakePipelines implements PipelineService {
        final List<CompletionRequest> requests = new ArrayList<>();
        boolean withPng = true;

        @Override
        public List<PipelineStatus> pipelines() {
            return List.of(status("img").orElseThrow(), status("txt").orElseThrow());
        }

        @Override
        public Optional<PipelineStatus> status(String name) {
            return name.equals("img") || name.equals("txt")
                    ? Optional.of(new PipelineStatus(name, true, List.of(), null)) : Optional.empty();
        }

        @Override
        public Optional<ImageLayout> imageLayout(String pipeline) {
            return pipeline.equals("img") ? Optional.of(LAYOUT) : Optional.empty();
        }

        @Override
        public Completion complete(CompletionRequest request, TextSink sink) {
            requests.add(request);
            int[] tokens = new int[49];
            for (int t : tokens) {
                sink.onText("", t);
            }
            long seed = request.options().longValue("seed").orElse(0L);
            float[][] pixels = new float[28][28];
            pixels[0][0] = seed / 255f;
            Map<String, Object> stats = withPng ? Map.of("image", Png.encode(pixels), "image_complete", true)
                    : Map.of();
            return new Completion(request.pipeline(), "", new int[] {512 + 7}, tokens, new double[49],
                    FinishReason.LENGTH, 1, 2, stats);
        }

        @Override
        public int[] tokenize(String pipeline, String text) {
            throw new UnsupportedOperationException();
        }

        @Override
        public PostProcessor.Output analyze(String pipeline, String text, Options options) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void define(PipelineDefinition definition) {
            throw new UnsupportedOperationException();
        }
    }

    final FakePipelines pipelines = new FakePipelines();
    final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    final ByteArrayOutputStream stderr = new ByteArrayOutputStream();

    ImageCommand command(String... args) {
        ImageCommand c = new ImageCommand(pipelines, name -> pipelines.status(name).orElseThrow(),
                new PrintStream(stdout, true, StandardCharsets.UTF_8), new PrintStream(stderr, true,
                StandardCharsets.UTF_8));
        new CommandLine(c).parseArgs(args);
        return c;
    }

    @Test
    void writesClassIndexedFilesWithConsecutiveSeedsAndAProgressBar(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("new/dir");
        int rc = command("--pipeline", "img", "--class", "Sneaker", "--count", "3", "--out", out.toString(),
                "--seed", "40", "--strategy", "jacobi", "--option", "top_k=50").call();
        assertThat(rc).isZero();
        for (int n = 0; n < 3; n++) {
            float[][] png = Png.decode(Files.readAllBytes(out.resolve("7_" + n + ".png")));
            assertThat(png).hasNumberOfRows(28);
            assertThat(Math.round(png[0][0] * 255)).isEqualTo(40 + n);
        }
        assertThat(pipelines.requests).hasSize(3).allSatisfy(r -> {
            assertThat(r.prompt()).isEqualTo("sneaker");
            assertThat(r.generator().name()).isEqualTo("jacobi");
            assertThat(r.options().string("top_k", "")).isEqualTo("50");
            assertThat(r.options().integer("max_tokens", 0, 0, 1000)).isEqualTo(49);
        });
        String err = stderr.toString(StandardCharsets.UTF_8);
        assertThat(err).contains("image 1/3", "image 3/3", "100% done");
        assertThat(stdout.toString(StandardCharsets.UTF_8)).contains("wrote 3 images of class 7 (sneaker)");
    }

    @Test
    void classIndexWorksLikeItsName(@TempDir Path tmp) throws Exception {
        command("--pipeline", "img", "--class", "9", "--out", tmp.toString()).call();
        assertThat(tmp.resolve("9_0.png")).exists();
        assertThat(pipelines.requests.get(0).prompt()).isEqualTo("ankle boot");
    }

    @Test
    void unknownClassListsTheClasses(@TempDir Path tmp) {
        assertThatThrownBy(() -> command("--pipeline", "img", "--class", "giraffe", "--out", tmp.toString()).call())
                .isInstanceOf(ArborException.class).hasMessageContaining("giraffe")
                .hasMessageContaining("sneaker, bag, ankle boot").hasMessageContaining("0-9");
        assertThat(pipelines.requests).isEmpty();
    }

    @Test
    void textPipelineIsRefusedNamingIt(@TempDir Path tmp) {
        assertThatThrownBy(() -> command("--pipeline", "txt", "--class", "7", "--out", tmp.toString()).call())
                .isInstanceOf(ArborException.class).hasMessageContaining("'txt'").hasMessageContaining("text")
                .hasMessageContaining("arbor generate");
    }

    @Test
    void unwritableOutputIsRefusedNamingTheDirectory(@TempDir Path tmp) throws Exception {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        assertThatThrownBy(() -> command("--pipeline", "img", "--class", "1", "--out", file.toString()).call())
                .isInstanceOf(ArborException.class).hasMessageContaining("a-file");
        assertThatThrownBy(() -> command("--pipeline", "img", "--class", "1", "--out",
                file.resolve("below").toString()).call()).isInstanceOf(ArborException.class)
                .hasMessageContaining("cannot create the output directory");
        assertThat(pipelines.requests).isEmpty();
    }

    @Test
    void aPipelineWithoutImagePngIsNamedAsTheCause(@TempDir Path tmp) {
        pipelines.withPng = false;
        assertThatThrownBy(() -> command("--pipeline", "img", "--class", "1", "--out", tmp.toString()).call())
                .isInstanceOf(ArborException.class).hasMessageContaining("image-png");
    }

    @Test
    void anUnavailablePipelineIsReportedAfterTheRequestsOwnMistakes(@TempDir Path tmp) throws Exception {
        ImageCommand c = new ImageCommand(pipelines, name -> new PipelineStatus(name, false,
                List.of("generator 'raster-ar'"), null), new PrintStream(stdout, true, StandardCharsets.UTF_8),
                new PrintStream(stderr, true, StandardCharsets.UTF_8));
        new CommandLine(c).parseArgs("--pipeline", "img", "--class", "bag", "--out", tmp.toString());
        assertThat(c.call()).isEqualTo(ArborCli.EXIT_UNAVAILABLE);
        assertThat(stderr.toString(StandardCharsets.UTF_8)).contains("'img'", "generator 'raster-ar'");
        ImageCommand wrongClass = new ImageCommand(pipelines, name -> new PipelineStatus(name, false, List.of("x"),
                null), new PrintStream(stdout, true, StandardCharsets.UTF_8), new PrintStream(stderr, true,
                StandardCharsets.UTF_8));
        new CommandLine(wrongClass).parseArgs("--pipeline", "img", "--class", "giraffe", "--out", tmp.toString());
        assertThatThrownBy(wrongClass::call).isInstanceOf(ArborException.class).hasMessageContaining("giraffe");
        assertThat(pipelines.requests).isEmpty();
    }

    @Test
    void countOutOfRangeIsRefused(@TempDir Path tmp) {
        assertThatThrownBy(() -> command("--pipeline", "img", "--class", "1", "--count", "0", "--out",
                tmp.toString()).call()).isInstanceOf(ArborException.class).hasMessageContaining("--count");
    }
}
