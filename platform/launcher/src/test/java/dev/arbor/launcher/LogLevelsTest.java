package dev.arbor.launcher;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Native engines' logs are one step quieter than the project's unless the user sets them. */
class LogLevelsTest {
    @AfterEach
    void clear() {
        System.clearProperty(LogLevels.NATIVE_PROPERTY);
        System.clearProperty("arbor.log.level");
    }

    @Test
    void byDefaultNativeWarningsAreNotShown() {
        LogLevels.apply(Map.of());
        assertThat(Logger.getLogger("").getLevel()).isEqualTo(Level.WARNING);
        assertThat(Logger.getLogger("ai.djl.util.cuda.CudaUtils").isLoggable(Level.WARNING)).isFalse();
        assertThat(Logger.getLogger("ai.djl.util.cuda.CudaUtils").isLoggable(Level.SEVERE)).isTrue();
        assertThat(System.getProperty(LogLevels.NATIVE_PROPERTY)).isEqualTo("SEVERE");
    }

    @Test
    void askingTheProjectForInfoShowsNativeWarnings() {
        LogLevels.apply(Map.of("ARBOR_LOG_LEVEL", "info"));
        assertThat(Logger.getLogger("ai.djl.pytorch").isLoggable(Level.WARNING)).isTrue();
        assertThat(Logger.getLogger("ai.djl.pytorch").isLoggable(Level.INFO)).isFalse();
        assertThat(System.getProperty(LogLevels.NATIVE_PROPERTY)).isEqualTo("WARNING");
    }

    @Test
    void anExplicitNativeLevelWinsAndItsLinesReachTheConsole() {
        LogLevels.apply(Map.of("ARBOR_NATIVE_LOG_LEVEL", "FINE"));
        assertThat(Logger.getLogger("ai.onnxruntime").isLoggable(Level.FINE)).isTrue();
        assertThat(Logger.getLogger("dev.arbor").isLoggable(Level.INFO)).isFalse();
        for (var h : Logger.getLogger("").getHandlers()) {
            assertThat(h.getLevel()).isEqualTo(Level.FINE);
        }
        assertThat(System.getProperty(LogLevels.NATIVE_PROPERTY)).isEqualTo("FINE");
    }
}
