package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cOnnxConverter;
import dev.arbor.testkit.SharedModels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bin/arbor} as a user runs it: ONNX Runtime cannot crash the JVM on a long command line, its own warnings
 * stay quiet unless asked for, and file arguments fail in one line. Uses the installation's own models, and the shared
 * stories260K for the watermark detector.
 */
class NativeNoiseIT {
    @TempDir
    static Path work;

    record Run(int exit, String out, String err) {
    }

    private static Run arbor(Map<String, String> env, String stdin, String... args)
            throws IOException, InterruptedException {
        Path dist = Path.of(System.getProperty("arbor.dist"));
        List<String> cmd = new ArrayList<>();
        cmd.add(dist.resolve("bin/arbor").toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(work.toFile());
        // the installation must not depend on the test runner's environment to stay up
        pb.environment().remove("ORT_DISABLE_TELEMETRY");
        pb.environment().remove("ARBOR_LOG_LEVEL");
        pb.environment().remove("ARBOR_NATIVE_LOG_LEVEL");
        pb.environment().put("ARBOR_MODELS", work.resolve("no-such-models").toString());
        pb.environment().putAll(env);
        Path err = Files.createTempFile(work, "stderr", ".txt");
        pb.redirectError(err.toFile());
        Process p = pb.start();
        try (var in = p.getOutputStream()) {
            in.write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(180, TimeUnit.SECONDS)).as("bin/arbor %s finished", String.join(" ", args)).isTrue();
        return new Run(p.exitValue(), out, Files.readString(err));
    }

    @Test
    void aSixteenKilobyteCommandLineLoadsOnnxRuntimeAndGenerates() throws Exception {
        // ONNX Runtime 1.29's telemetry client died with SIGSEGV (exit 139) reading a command line this long
        String padding = "-Darbor.test.padding=" + "x".repeat(16 * 1024);
        Run r = arbor(Map.of("JAVA_OPTS", padding), "", "generate", "--pipeline", "arbor-tiny", "--temperature", "0",
                "--max-tokens", "8", "Once upon a time");
        assertThat(r.exit()).as("exit status (139 = SIGSEGV); stderr:%n%s", r.err()).isZero();
        assertThat(r.out().strip()).isNotEmpty();
        assertThat(r.err()).doesNotContain("SIGSEGV").doesNotContain("hs_err");
    }

    @Test
    void aJvmStartedWithoutTheTelemetrySwitchIsRefusedCleanlyInsteadOfCrashing() throws Exception {
        // not through bin/arbor: a plain java command with the forge's class path (ONNX Runtime + OrtRuntime)
        Path dist = Path.of(System.getProperty("arbor.dist"));
        Path testClasses = Path.of(NativeNoiseIT.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        String javaCommand = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = List.of(javaCommand, "-Darbor.test.padding=" + "x".repeat(16 * 1024), "-cp",
                dist.resolve("forge/lib") + "/*" + java.io.File.pathSeparator + testClasses,
                OrtRuntimeProbe.class.getName());
        for (boolean disabled : new boolean[] {false, true}) {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            pb.environment().remove("ORT_DISABLE_TELEMETRY");
            if (disabled) {
                pb.environment().put("ORT_DISABLE_TELEMETRY", "1");
            }
            Process p = pb.start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as("exit status (139 = SIGSEGV); output:%n%s", out).isZero();
            assertThat(out).contains(disabled ? "ready 1.29" : "refused: ONNX Runtime not started");
            if (!disabled) {
                assertThat(out).contains("ORT_DISABLE_TELEMETRY=1");
            }
        }
    }

    @Test
    void onnxRuntimeWarningsAreQuietByDefaultAndShownWhenAsked() throws Exception {
        // a valid graph with an initializer no node reads: ONNX Runtime warns "Removing initializer" when loading it
        Path model = Files.write(work.resolve("unused-initializer.onnx"), identityWithUnusedInitializer());
        Path tokenizer = Path.of(System.getProperty("arbor.dist")).resolve("models/arbor-tiny-ar/tokenizer.bin");
        String[] args = {"generate", "--model", model.toString(), "--tokenizer", tokenizer.toString(),
                "--max-tokens", "2", "Once"};
        Run quiet = arbor(Map.of(), "", args);
        assertThat(quiet.exit()).as("not a decoder: refused").isNotZero();
        assertThat(quiet.err()).contains("arbor:").doesNotContain("Removing initializer");
        Run asked = arbor(Map.of("ARBOR_LOG_LEVEL", "INFO"), "", args);
        assertThat(asked.err()).contains("Removing initializer 'never_read'");
    }

    @Test
    void watermarkDetectReadsDashAsStandardInputAndNamesAMissingFile() throws Exception {
        Path missing = work.resolve("no-such-text.txt");
        Run r = arbor(Map.of(), "", "watermark", "detect", "--pipeline", "arbor-tiny", missing.toString());
        assertThat(r.exit()).isNotZero();
        assertThat(r.err().strip()).as("one line naming the file").doesNotContain("\n")
                .contains(missing.toString()).contains("does not exist").doesNotContain("Exception");
        // '-' is standard input: the text reaches the watermark detector, which reports on it
        Path models = SharedModels.require("stories260K/stories260K.bin").getParent().getParent();
        Run dash = arbor(Map.of("ARBOR_MODELS", models.toString(), "ARBOR_WATERMARK_KEY", "12345"),
                "Once upon a time there was a little girl.", "watermark", "detect", "--pipeline",
                "stories260k-watermarked", "-");
        assertThat(dash.err()).doesNotContain("NoSuchFileException").doesNotContain("\tat ");
        assertThat(dash.exit()).as("0 = not detected; stderr:%n%s", dash.err()).isZero();
        assertThat(dash.out()).contains("\"tokens_scored\"").contains("\"detected\" : false");
    }

    @Test
    void aModelThatComputesNanIsBlamedNotTheSelector() throws Exception {
        // the installation's own model converted to ONNX, with one NaN in its final norm: every logit becomes NaN
        Path models = Path.of(System.getProperty("arbor.dist")).resolve("models/arbor-tiny-ar");
        Llama2cCheckpoint weights = Llama2cCheckpoint.read(models.resolve("arbor-tiny-ar.bin"));
        OnnxMl.ModelProto m = OnnxMl.ModelProto.parseFrom(Llama2cOnnxConverter.toOnnx(weights, 0, "nan-test"));
        OnnxMl.GraphProto.Builder g = m.getGraph().toBuilder();
        for (int i = 0; i < g.getInitializerCount(); i++) {
            if (g.getInitializer(i).getName().equals("rms_final")) {
                byte[] raw = g.getInitializer(i).getRawData().toByteArray();
                java.nio.ByteBuffer.wrap(raw).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(0, Float.NaN);
                g.setInitializer(i, g.getInitializer(i).toBuilder().setRawData(ByteString.copyFrom(raw)));
            }
        }
        Path nan = Files.write(work.resolve("nan-final-norm.onnx"), m.toBuilder().setGraph(g).build().toByteArray());
        Run r = arbor(Map.of(), "", "generate", "--model", nan.toString(), "--tokenizer",
                models.resolve("tokenizer.bin").toString(), "--max-tokens", "4", "Once");
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("produced non-finite logits (NaN").contains("forward step 1")
                .contains("weights or inputs are broken").doesNotContain("selector");
    }

    private static byte[] identityWithUnusedInitializer() {
        byte[] base = OddOnnx.identityModel();
        try {
            OnnxMl.ModelProto m = OnnxMl.ModelProto.parseFrom(base);
            OnnxMl.GraphProto g = m.getGraph().toBuilder().addInitializer(OnnxMl.TensorProto.newBuilder()
                    .setName("never_read").setDataType(OnnxMl.TensorProto.DataType.FLOAT.getNumber()).addDims(1)
                    .setRawData(ByteString.copyFrom(new byte[4]))).build();
            return m.toBuilder().setGraph(g).build().toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
