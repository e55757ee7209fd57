package dev.arbor.djl.runtime;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;

/**
 * The engine set-up on a flat class path (the in-framework path is covered by the distribution's DjlBackendIT): the
 * real PyTorch engine (not DJL's silent PassthroughNDManager), offline, one thread unless configured.
 */
class DjlRuntimeTest {
    @Test
    void startsThePyTorchEngineOfflineAndComputes() {
        Engine engine = DjlRuntime.pytorch();
        assertThat(engine.getEngineName()).isEqualTo("PyTorch");
        assertThat(engine.getVersion()).startsWith("2.7.1");
        assertThat(DjlRuntime.pytorch()).isSameAs(engine);
        assertThat(System.getProperty("ai.djl.offline")).isEqualTo("true");
        assertThat(System.getProperty("OPT_OUT_TRACKING")).isEqualTo("true");
        assertThat(System.getProperty(DjlRuntime.NUM_THREADS)).isEqualTo("1");
        try (NDManager m = engine.newBaseManager()) {
            NDArray a = m.create(new float[] {1, 2, 3, 4}, new ai.djl.ndarray.types.Shape(2, 2));
            assertThat(a.matMul(a).toFloatArray()).containsExactly(7, 10, 15, 22);
            assertThat(m.getClass().getSimpleName()).isEqualTo("PtNDManager");
        }
    }
}
