package dev.arbor.onnxruntime.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtProvider;
import java.util.Map;
import java.util.logging.Level;
import org.junit.jupiter.api.Test;

/** The activator's work: native load, one shared environment, telemetry off, ORT's warnings quiet by default. */
class OrtRuntimeTest {
    @Test
    void activationCreatesTheSingleEnvironmentWithTelemetryOff() {
        new OrtRuntime().activate((String) null);
        OrtEnvironment env = OrtRuntime.environment();
        assertThat(env).isSameAs(OrtEnvironment.getEnvironment());
        assertThat(OrtEnvironment.getAvailableProviders()).contains(OrtProvider.CPU);
        assertThat(env.getVersion()).startsWith("1.29");
        // no arbor.native.log.level set: ORT prints errors only, not its warnings
        assertThat(OrtRuntime.logLevel()).isEqualTo(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR);
    }

    @Test
    void theProjectsLevelMapsOntoOrtsSeverities() {
        assertThat(NativeLogLevel.ort(Level.FINEST)).isEqualTo(OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE);
        assertThat(NativeLogLevel.ort(Level.FINE)).isEqualTo(OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO);
        assertThat(NativeLogLevel.ort(Level.INFO)).isEqualTo(OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO);
        assertThat(NativeLogLevel.ort(Level.WARNING)).isEqualTo(OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING);
        assertThat(NativeLogLevel.ort(Level.SEVERE)).isEqualTo(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR);
        assertThat(NativeLogLevel.ort(Level.OFF)).isEqualTo(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
        String before = System.getProperty(NativeLogLevel.PROPERTY);
        try {
            System.setProperty(NativeLogLevel.PROPERTY, "warning");
            assertThat(NativeLogLevel.ort()).isEqualTo(OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING);
            System.setProperty(NativeLogLevel.PROPERTY, "no-such-level");
            assertThat(NativeLogLevel.ort()).isEqualTo(OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR);
        } finally {
            if (before == null) {
                System.clearProperty(NativeLogLevel.PROPERTY);
            } else {
                System.setProperty(NativeLogLevel.PROPERTY, before);
            }
        }
    }

    @Test
    void aLongCommandLineWithoutTheTelemetrySwitchIsRefusedNotCrashed() {
        assertThat(TelemetryGuard.problem(Map.of(), 1_000)).isNull();
        assertThat(TelemetryGuard.problem(Map.of("ORT_DISABLE_TELEMETRY", "1"), 16_384)).isNull();
        assertThat(TelemetryGuard.problem(Map.of("ORT_DISABLE_TELEMETRY", "true"), 16_384)).isNull();
        assertThat(TelemetryGuard.problem(Map.of("ORT_DISABLE_TELEMETRY", "0"), 16_384))
                .contains("16384 bytes").contains("ORT_DISABLE_TELEMETRY=1");
        assertThat(TelemetryGuard.problem(Map.of(), 4_000)).contains("crashes the JVM");
        assertThat(TelemetryGuard.commandLineBytes()).isPositive();
    }
}
