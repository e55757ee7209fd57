package dev.arbor.onnxruntime.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;

/**
 * ONNX Runtime 1.29's Linux natives start a telemetry client when the environment is created, and that client
 * overflows its stack reading {@code /proc/self/cmdline} when the command line is longer than about 3.9 KB: the JVM
 * dies with SIGSEGV. {@code OrtEnvironment.setTelemetry(false)} comes too late (the client already started); only the
 * process environment variable {@value #VARIABLE}{@code =1}, read by the natives, prevents it, and a JVM cannot set
 * its own environment. So {@code bin/arbor} and the build's test runners set it, and this guard refuses to create
 * the environment (a clear error instead of a crash) where it is missing and the command line is long.
 */
final class TelemetryGuard {
    /** The variable ONNX Runtime's natives read; "1" or "true" switches the telemetry client off before it starts. */
    static final String VARIABLE = "ORT_DISABLE_TELEMETRY";
    /** Half of what was measured safe: 3,977 bytes of command line ran, 3,985 crashed. */
    static final long SAFE_COMMAND_LINE_BYTES = 2_048;

    private TelemetryGuard() {
    }

    /**
     * Returns normally when creating the ONNX Runtime environment cannot crash this process.
     *
     * @throws IllegalStateException saying what to set when it could
     */
    static void check() {
        String problem = problem(System.getenv(), commandLineBytes());
        if (problem != null) {
            throw new IllegalStateException(problem);
        }
    }

    /** Why creating the environment could crash, or null when it cannot. */
    static String problem(Map<String, String> environment, long commandLineBytes) {
        if (disabled(environment.get(VARIABLE)) || commandLineBytes <= SAFE_COMMAND_LINE_BYTES) {
            return null;
        }
        return "ONNX Runtime not started: its telemetry client crashes the JVM when the command line is longer"
                + " than about 3.9 KB (this one has " + commandLineBytes + " bytes); start Java with " + VARIABLE
                + "=1 in its environment (bin/arbor does) or with a shorter command line (an @argfile, a manifest"
                + " class path)";
    }

    static boolean disabled(String value) {
        return value != null && (value.trim().equals("1") || value.trim().toLowerCase(Locale.ROOT).equals("true"));
    }

    /** Bytes of this process's command line, 0 where {@code /proc} is not available (not Linux). */
    static long commandLineBytes() {
        Path cmdline = Path.of("/proc/self/cmdline");
        if (!Files.isReadable(cmdline)) {
            return 0;
        }
        try (InputStream in = Files.newInputStream(cmdline)) {
            return in.transferTo(java.io.OutputStream.nullOutputStream());
        } catch (IOException e) {
            return 0;
        }
    }
}
