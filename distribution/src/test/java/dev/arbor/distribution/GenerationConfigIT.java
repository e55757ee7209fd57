package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.testkit.SharedModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code generation_config.json} next to the model gives request defaults that rank below the pipeline's
 * {@code defaults} and the request's values: {@code bin/arbor generate} on the {@code stories260k} pipeline (defaults
 * temperature 0.8, top_p 0.9, no top_k) with a models folder whose stories260K holds such a file.
 */
class GenerationConfigIT {
    private static final String PROMPT = "Once upon a time";
    @TempDir
    static Path models;
    private static Path shared;
    /** Greedy ids and text without any generation_config.json. */
    private static int[] greedyIds;
    private static String greedyText;
    /** Sampled at the pipeline's temperature with top_p 1 and seed 5, without any generation_config.json. */
    private static String sampled;

    record Run(String text, int[] ids) {
    }

    @BeforeAll
    static void references() throws Exception {
        shared = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        Path dir = Files.createDirectories(models.resolve("stories260K"));
        Files.createSymbolicLink(dir.resolve("stories260K.bin"), shared.resolve("stories260K/stories260K.bin"));
        Files.createSymbolicLink(dir.resolve("tok512.bin"), shared.resolve("stories260K/tok512.bin"));
        Run greedy = generate(shared, "--temperature", "0");
        greedyIds = greedy.ids();
        greedyText = greedy.text();
        sampled = generate(shared, "--seed", "5", "--top-p", "1.0").text();
        // the runs below would prove nothing if sampling happened to give the greedy text
        assertThat(sampled).isNotEqualTo(greedyText);
    }

    private static Run generate(Path modelsFolder, String... options) throws IOException, InterruptedException {
        Path dist = Path.of(System.getProperty("arbor.dist", "target/arbor")).toAbsolutePath();
        List<String> cmd = new ArrayList<>(List.of(dist.resolve("bin/arbor").toString(), "generate", "--pipeline",
                "stories260k", "--max-tokens", "24", "--print-ids"));
        cmd.addAll(Arrays.asList(options));
        cmd.add(PROMPT);
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().put("ARBOR_MODELS", modelsFolder.toString());
        Path err = Files.createTempFile(models, "stderr", ".txt");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("bin/arbor generate; stderr:%n%s", Files.readString(err)).isZero();
        String[] lines = out.stripTrailing().split("\n");
        String ids = lines[lines.length - 1];
        String text = out.substring(0, out.stripTrailing().lastIndexOf('\n'));
        return new Run(text, ids.isBlank() ? new int[0] : Arrays.stream(ids.split(",")).mapToInt(Integer::parseInt)
                .toArray());
    }

    private static boolean seenBefore(int at) {
        for (int i = 0; i < at; i++) {
            if (greedyIds[i] == greedyIds[at]) {
                return true;
            }
        }
        return false;
    }

    private static void config(String json) throws IOException {
        Files.writeString(models.resolve("stories260K/generation_config.json"), json);
    }

    @Test
    void itsDefaultsApplyWhereThePipelineAndTheRequestSayNothing() throws Exception {
        // top_k 1 (the pipeline sets no top_k) makes sampling at the pipeline's temperature 0.8 pick the argmax
        config("{\"top_k\": 1}");
        assertThat(generate(models, "--seed", "5", "--top-p", "1.0").text()).isEqualTo(greedyText);
        // the request's own top_k wins over the file's
        assertThat(generate(models, "--seed", "5", "--top-p", "1.0", "--top-k", "0").text()).isEqualTo(sampled);
    }

    @Test
    void thePipelinesDefaultsWinOverIt() throws Exception {
        // do_sample false would mean temperature 0; the pipeline's temperature 0.8 ranks above it
        config("{\"do_sample\": false}");
        assertThat(generate(models, "--seed", "5", "--top-p", "1.0").text()).isEqualTo(sampled);
    }

    @Test
    void itsEosTokenIdsEndGeneration() throws Exception {
        int at = 1; // the first position whose id did not come earlier
        while (at < greedyIds.length && seenBefore(at)) {
            at++;
        }
        assertThat(at).isLessThan(greedyIds.length);
        config("{\"eos_token_id\": [2, " + greedyIds[at] + "]}");
        Run stopped = generate(models, "--temperature", "0");
        // generation ends at the configured stop id, which is not emitted
        assertThat(stopped.ids()).containsExactly(Arrays.copyOf(greedyIds, at));
    }
}
