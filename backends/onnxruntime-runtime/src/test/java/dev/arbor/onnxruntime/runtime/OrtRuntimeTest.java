package dev.arbor.onnxruntime.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtProvider;
import org.junit.jupiter.api.Test;

/** The activator's work: native load, one shared environment, telemetry off. */
class OrtRuntimeTest {
    @Test
    void activationCreatesTheSingleEnvironmentWithTelemetryOff() {
        new OrtRuntime().activate();
        OrtEnvironment env = OrtRuntime.environment();
        assertThat(env).isSameAs(OrtEnvironment.getEnvironment());
        assertThat(OrtEnvironment.getAvailableProviders()).contains(OrtProvider.CPU);
        assertThat(env.getVersion()).startsWith("1.29");
    }
}
