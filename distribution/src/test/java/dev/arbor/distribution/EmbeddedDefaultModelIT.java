package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The installation generates on its own: {@code bin/arbor generate "Once upon a time"} uses the embedded default
 * pipeline (arbor-tiny, the forge's model under the installation's models/), with ARBOR_MODELS pointing at a folder
 * that does not exist and started from a folder with no ../shared beside it, as on a fresh clone. Needs no shared
 * models, so it never skips.
 */
class EmbeddedDefaultModelIT {
    @TempDir
    static Path elsewhere;

    record Run(int exit, String out, String err) {
    }

    private static Run arbor(String... args) throws IOException, InterruptedException {
        Path dist = Path.of(System.getProperty("arbor.dist"));
        List<String> cmd = new ArrayList<>();
        cmd.add(dist.resolve("bin/arbor").toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(elsewhere.toFile());
        pb.environment().put("ARBOR_MODELS", elsewhere.resolve("no-such-models").toString());
        Path err = Files.createTempFile(elsewhere, "stderr", ".txt");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(180, TimeUnit.SECONDS)).as("bin/arbor %s finished", String.join(" ", args)).isTrue();
        return new Run(p.exitValue(), out, Files.readString(err));
    }

    @Test
    void generateWorksWithNothingOutsideTheInstallation() throws Exception {
        assertThat(Files.exists(elsewhere.resolve("../shared/models"))).isFalse();
        Run r = arbor("generate", "--seed", "7", "--max-tokens", "48", "Once upon a time");
        assertThat(r.exit()).as("exit status; stderr:%n%s", r.err()).isZero();
        String text = r.out().strip();
        // A continuation in English words from the trained model, not an error message.
        assertThat(text.split("\\s+").length).as("generated: %s", text).isGreaterThanOrEqualTo(5);
        assertThat(text.chars().filter(Character::isLetter).count()).isGreaterThan(text.length() / 2);
    }

    @Test
    void draftPipelineSpeculatesWithTheSameGreedyOutput() throws Exception {
        Run plain = arbor("generate", "--pipeline", "arbor-tiny", "--temperature", "0", "--max-tokens", "40",
                "Lily saw a");
        Run spec = arbor("generate", "--pipeline", "arbor-tiny-speculative", "--temperature", "0", "--max-tokens",
                "40", "Lily saw a");
        assertThat(plain.exit()).as("stderr:%n%s", plain.err()).isZero();
        assertThat(spec.exit()).as("stderr:%n%s", spec.err()).isZero();
        assertThat(plain.out().strip()).isNotEmpty();
        // Speculative sampling with the forge's draft is exact: greedy output equals plain greedy decoding.
        assertThat(spec.out()).isEqualTo(plain.out());
    }

    @Test
    void fusedAndQuantizedGraphsOfTheDefaultModel() throws Exception {
        Run plain = arbor("generate", "--pipeline", "arbor-tiny", "--temperature", "0", "--max-tokens", "40",
                "--print-ids", "Lily saw a");
        Run fused = arbor("generate", "--pipeline", "arbor-tiny-fused", "--temperature", "0", "--max-tokens", "40",
                "--print-ids", "Lily saw a");
        assertThat(plain.exit()).as("stderr:%n%s", plain.err()).isZero();
        assertThat(fused.exit()).as("stderr:%n%s", fused.err()).isZero();
        // The fused fp32 graph computes the same network (logits within 1e-4): the same greedy tokens.
        assertThat(fused.out()).isEqualTo(plain.out());

        Path model = Path.of(System.getProperty("arbor.dist")).resolve("models/arbor-tiny-ar/arbor-tiny-ar.bin");
        Run int4 = arbor("generate", "--model", model.toString(), "--option", "precision=int4", "--temperature", "0",
                "--max-tokens", "40", "--stats", "Lily saw a");
        assertThat(int4.exit()).as("stderr:%n%s", int4.err()).isZero();
        assertThat(int4.out().strip().split("\\s+").length).as("generated: %s", int4.out())
                .isGreaterThanOrEqualTo(5);
        assertThat(int4.err()).contains("precision=int4");

        // A named pipeline fixes its model: a model option on the command line is refused, naming where it goes.
        Run misplaced = arbor("generate", "--pipeline", "arbor-tiny", "--option", "precision=int8", "Lily");
        assertThat(misplaced.exit()).isNotZero();
        assertThat(misplaced.err()).contains("precision", "etc/pipelines/arbor-tiny.json");
    }

    @Test
    void forgeCommandRunsInItsOwnJvm() throws Exception {
        Run r = arbor("forge", "--help");
        assertThat(r.exit()).as("stderr:%n%s", r.err()).isZero();
        assertThat(r.out()).contains("train", "corpus", "export");
    }
}
