package dev.arbor.forge;

import ai.djl.engine.Engine;

/**
 * Starts DJL's PyTorch engine offline: no usage tracking, no downloads (the natives come from the
 * pytorch-native-cpu jar on the class path), and a fixed number of intra-op threads.
 */
final class DjlSetup {
    private static Integer threads;

    private DjlSetup() {
    }

    /** Must run before the first NDManager; {@code n} null keeps PyTorch's default (all cores). */
    static synchronized void configure(Integer n) {
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("OPT_OUT_TRACKING", "true");
        System.setProperty("ai.djl.default_engine", "PyTorch");
        if (n != null) {
            System.setProperty("ai.djl.pytorch.num_threads", String.valueOf(n));
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
        Engine.getEngine("PyTorch");
        threads = n != null ? n : Runtime.getRuntime().availableProcessors();
    }

    static int threads() {
        return threads == null ? Runtime.getRuntime().availableProcessors() : threads;
    }
}
